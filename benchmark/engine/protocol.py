"""The paper's training protocols (Chen et al. 2021) in one place.

``paper`` (default): the mini-dataset protocol of Supplement D.1, Table 12. ``finetune``: transfer
learning, Section 6.2 and Supplement D.3 (Table 4): a 32-frame Kinetics run (``init_from``, a new
classifier when the class count differs) fine-tuned 45 epochs, cosine from lr 0.01, batch 48 with
synchronized BN (6 GPUs x 8 clips). Every run takes its defaults from :func:`protocol_defaults`, so
a comparison stays fair unless a config deliberately overrides a value (and then the override is
recorded in the resolved ``config.yaml``).
"""

from __future__ import annotations

from benchmark.errors import ConfigError

#: Table 12: the learning rate of every mini-dataset run, for the official batch size.
BASE_LR = 0.01
#: The official runs used batch size 72 on one 6-GPU node (Supplement D.1).
REFERENCE_BATCH_SIZE = 72
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
DROPOUT = 0.5

# Footnote 2 of Table 12: x0.1 at these epochs for the multi-step schedules.
_MILESTONES = {35: [10, 20, 30], 45: [15, 30, 40]}

#: The run option ``protocol``: which of the paper's protocols fills the defaults.
PROTOCOLS = ("paper", "finetune")
#: Supplement D.3: "finetuned 45 epochs with cosine annealing learning rate schedule starting with
#: 0.01, and trained the models with a batch size of 48 with synchronized batch normalization".
FINETUNE_EPOCHS = 45
FINETUNE_BATCH_SIZE = 48


def is_kinetics(dataset: str | None) -> bool:
    """Mini-Kinetics trains longer (the bracketed epochs of Table 12)."""
    return dataset is not None and "kinetics" in str(dataset).lower()


def protocol_defaults(frames: int, dataset: str | None = None, protocol: str = "paper") -> dict:
    """Table 12 (``protocol="paper"``) for a run with ``frames`` input frames on ``dataset`` (a
    preset name), or the fine-tuning protocol of Table 4 (``"finetune"``, any frames and dataset).

    Returns plain values: ``epochs``, ``lr``, ``momentum``, ``weight_decay``, ``schedule``
    (``cosine`` or ``multistep``), ``milestones`` (empty for cosine), ``gamma``, ``batch_size``,
    ``dropout``, ``sync_bn``, ``pretrained`` (``"imagenet"`` for 8 frames, else ``None``) and
    ``init_from_frames`` (the frame count whose run initialises this one, ``None`` for 8 frames and
    for fine-tuning, whose ``init_from`` is a run of another dataset).
    """
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 1:
        raise ConfigError(f"protocol: frames must be a positive integer, got {frames!r}")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol: invalid value {protocol!r} (valid values: {', '.join(PROTOCOLS)})")
    if protocol == "finetune":
        return _finetune_defaults()
    kinetics = is_kinetics(dataset)
    if frames <= 8:
        epochs = 100 if kinetics else 75
        schedule, milestones = "cosine", []
        pretrained, init_frames = "imagenet", None
    else:
        epochs = 45 if kinetics else 35
        schedule, milestones = "multistep", list(_MILESTONES[epochs])
        # Progressive training: each longer run starts from the run with half the frames.
        pretrained, init_frames = None, frames // 2
    return {
        "epochs": epochs,
        "lr": BASE_LR,
        "momentum": MOMENTUM,
        "weight_decay": WEIGHT_DECAY,
        "schedule": schedule,
        "milestones": milestones,
        "gamma": 0.1,
        "batch_size": REFERENCE_BATCH_SIZE,
        "dropout": DROPOUT,
        "sync_bn": False,
        "pretrained": pretrained,
        "init_from_frames": init_frames,
    }


def _finetune_defaults() -> dict:
    """Section 6.2 / D.3; the rest "follow[s] the same training setting in Section 5" (Table 12's
    SGD, weight decay, dropout). The weights come from ``init_from``, never from ImageNet."""
    return {
        "epochs": FINETUNE_EPOCHS, "lr": BASE_LR, "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY,
        "schedule": "cosine", "milestones": [], "gamma": 0.1, "batch_size": FINETUNE_BATCH_SIZE,
        "dropout": DROPOUT, "sync_bn": True, "pretrained": None, "init_from_frames": None,
    }


def check_protocol_inputs(protocol: str, init_from: str | None, where: str) -> None:
    """Fine-tuning needs the run it starts from: without one it would silently train from scratch."""
    if protocol == "finetune" and not init_from:
        raise ConfigError(f"{where}: protocol finetune needs init_from (the run directory to fine-tune, "
                          f"e.g. a 32-frame Kinetics run)")


def default_milestones(epochs: int) -> list[int]:
    """Milestones for a multi-step schedule of ``epochs`` epochs.

    Table 12 gives them for 35 and 45 epochs; other lengths keep the same proportions
    (drops at 2/7, 4/7 and 6/7 of training), rounded, which reproduces the 35-epoch case exactly.
    """
    if epochs in _MILESTONES:
        return list(_MILESTONES[epochs])
    points = sorted({max(1, round(epochs * k / 7)) for k in (2, 4, 6)})
    return [p for p in points if p < epochs]


def effective_lr(lr: float, batch_size: int, scaling: str, reference_batch_size: int = REFERENCE_BATCH_SIZE) -> float:
    """The learning rate actually used.

    ``scaling="none"`` (default): ``lr`` as given, whatever the batch size — what the official runs
    did (0.01 both at batch 72 and at 36 with sync BN). ``"linear"``: ``lr * batch_size /
    reference_batch_size`` (Goyal et al.), for batch sizes far from the reference.
    """
    if scaling == "none":
        return float(lr)
    if scaling == "linear":
        return float(lr) * batch_size / reference_batch_size
    raise ConfigError(f"optim.lr_scaling: invalid value {scaling!r} (valid values: none, linear)")
