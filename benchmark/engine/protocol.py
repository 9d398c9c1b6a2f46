"""The paper's training protocol (Chen et al. 2021, Supplement D.1, Table 12) in one place.

Every run of the grid takes its defaults from :func:`protocol_defaults`, so that a comparison stays
fair unless a config deliberately overrides a value (and then the override is recorded in the
resolved ``config.yaml``).
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


def is_kinetics(dataset: str | None) -> bool:
    """Mini-Kinetics trains longer (the bracketed epochs of Table 12)."""
    return dataset is not None and "kinetics" in str(dataset).lower()


def protocol_defaults(frames: int, dataset: str | None = None) -> dict:
    """Table 12 for a run with ``frames`` input frames on ``dataset`` (a preset name).

    Returns plain values: ``epochs``, ``lr``, ``momentum``, ``weight_decay``, ``schedule``
    (``cosine`` or ``multistep``), ``milestones`` (empty for cosine), ``gamma``, ``batch_size``,
    ``dropout``, ``pretrained`` (``"imagenet"`` for 8 frames, else ``None``) and ``init_from_frames``
    (the frame count whose run initialises this one, ``None`` for 8 frames).
    """
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 1:
        raise ConfigError(f"protocol: frames must be a positive integer, got {frames!r}")
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
        "pretrained": pretrained,
        "init_from_frames": init_frames,
    }


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
