"""``RunConfig``: one YAML that fully describes a training run.

Loaded strictly through :func:`benchmark.strict_config.from_dict` (a typo in a key is an error listing the
valid keys). Fields left at ``None``/``"auto"`` are filled from the paper's protocol
(:func:`benchmark.engine.protocol.protocol_defaults`) by :func:`resolve`, and the resolved config
is what the run directory records, so a reader never has to know the defaults.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from benchmark.data import DataConfig
from benchmark.engine import protocol
from benchmark.engine.run_loggers import check_logger_names
from benchmark.errors import ConfigError
from benchmark.strict_config import from_dict, load_yaml, to_dict


@dataclass
class OptimConfig:
    """SGD as in Table 12. ``lr`` is the rate for ``reference_batch_size``; see ``lr_scaling``."""

    name: Literal["sgd"] = "sgd"
    lr: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    nesterov: bool = False
    lr_scaling: Literal["none", "linear"] = "none"
    reference_batch_size: int = protocol.REFERENCE_BATCH_SIZE
    grad_clip: float | None = None  # max global L2 norm of the gradients; None: no clipping


@dataclass
class ScheduleConfig:
    """Per-epoch learning-rate schedule; ``None`` fields come from the protocol."""

    name: Literal["cosine", "multistep", "constant"] | None = None
    milestones: list[int] | None = None
    gamma: float = 0.1
    warmup_epochs: int = 0
    warmup_start_lr: float | None = None  # None: warm-up scales the rate by (e+1)/(w+1); else rises from this rate


@dataclass
class EvalConfig:
    """Validation each ``every`` epochs is clip level (1 clip, centre crop: the paper's default).

    The final video-level test uses ``clips`` x ``crops`` views per video, averaging logits
    (``average: logits``, the official choice) or softmax probabilities.
    """

    every: int = 1
    video_level: bool = True
    clips: int | None = None  # None: the dataset's test_clips
    crops: int | None = None  # None: the dataset's test_crops (1, 3 or 10)
    average: Literal["logits", "softmax"] = "logits"
    batch_size: int | None = None  # None: the training batch size
    split: str = "val"


@dataclass
class RunConfig:
    model: str
    dataset: Any  # a preset name, {preset: name, overrides...} or a full DataConfig mapping (benchmark.data)
    run_id: str | None = None  # None: the run directory's name
    num_classes: int | None = None  # None: the dataset's
    pretrained: str | None = "auto"  # "auto": imagenet unless init_from is set or the model has no
    # torchvision ImageNet weights (VoV3D, SEVNet, FASTER, bLVNet-TAM); None; "imagenet"; a path
    dropout: float | None = None
    inflate: str = "copy"
    model_options: dict[str, Any] = field(default_factory=dict)  # module-specific build options (tam_init: ...)
    init_from: str | None = None  # another run directory (progressive training: f8 -> f16; fine-tuning)
    protocol: Literal["paper", "finetune"] = "paper"  # the defaults: Table 12, or Table 4's fine-tuning
    init_checkpoint: Literal["best", "last"] = "best"
    epochs: int | None = None
    batch_size: int | None = None  # global batch size, split over the DDP processes
    seed: int = 0
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    amp: bool | str = True  # off | fp16 | bf16 (AMP_MODES); true/false: fp16/off; resolved to the mode
    channels_last: bool = False  # channels-last memory format (channels_last_3d for 3D convolutions)
    compile: bool = False  # torch.compile the module the training steps run
    cudnn_benchmark: bool = True  # on CUDA only; off when deterministic
    deterministic: bool = False
    sync_bn: bool | None = None  # None: the protocol's (finetune: true); only with several processes
    workers: int | None = None  # data loader workers per process; None: the dataset's num_workers
    device: Literal["auto", "cpu", "cuda"] = "auto"
    log_every: int = 20
    loggers: list[str] = field(default_factory=list)  # live loggers (benchmark.engine.run_loggers): tensorboard
    max_steps_per_epoch: int | None = None  # cap for smoke runs; None: the whole epoch
    normalization: dict[str, Any] | None = None  # {mean: [r, g, b], std: [r, g, b]} on 0..1 pixels; None: the
    # backbone's ImageNet statistics, or those of the published weights the run starts from

    @property
    def frames(self) -> int:
        from benchmark.models import parse_model_name

        return parse_model_name(self.model).frames


AMP_MODES = ("off", "fp16", "bf16")
"""``fp16``: float16 autocast + GradScaler, on CUDA only (a CPU run stays float32, as ``amp: true``
always did); ``bf16``: bfloat16 autocast without a scaler, on CUDA and CPU; ``off``: float32."""


def amp_mode(value: Any) -> str:
    """An ``amp`` value in its resolved form: ``true`` (the historical spelling) is ``fp16``, ``false`` is ``off``."""
    if value is True:
        return "fp16"
    if value is False or value is None:
        return "off"
    return value


def dataset_name(dataset: Any) -> str | None:
    """A short name of the dataset entry (a preset name or the mapping's ``name``)."""
    if isinstance(dataset, str):
        return dataset
    if isinstance(dataset, dict):
        for key in ("preset", "name"):
            if isinstance(dataset.get(key), str):
                return dataset[key]
    name = getattr(dataset, "name", None)
    return name if isinstance(name, str) else None


def _check_positive(value: Any, where: str, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{where}: must be {'>= 0' if allow_zero else 'positive'}, got {value!r}")


def _check_normalization(value: dict | None, where: str) -> None:
    if value is None:
        return
    if set(value) != {"mean", "std"}:
        raise ConfigError(f"{where}: normalization: expected the keys mean and std, got {', '.join(map(str, value)) or 'none'}")
    for key in ("mean", "std"):
        numbers = value[key]
        if (not isinstance(numbers, list) or len(numbers) != 3
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in numbers)):
            raise ConfigError(f"{where}: normalization.{key}: expected three numbers (R, G, B), got {numbers!r}")
    if min(value["std"]) <= 0:
        raise ConfigError(f"{where}: normalization.std: must be positive, got {value['std']!r}")


def _check_values(out: RunConfig, where: str) -> None:
    """The resolved config's ranges (``from_dict`` checks only types and choices)."""
    _check_normalization(out.normalization, where)
    if not 0 <= out.seed < 2**32:  # what numpy's and torch's seeding accept
        raise ConfigError(f"{where}: seed must be in 0..{2**32 - 1}, got {out.seed!r}")
    _check_positive(out.optim.momentum, f"{where}: optim.momentum", allow_zero=True)
    _check_positive(out.optim.weight_decay, f"{where}: optim.weight_decay", allow_zero=True)
    _check_positive(out.schedule.gamma, f"{where}: schedule.gamma")
    _check_positive(out.epochs, f"{where}: epochs")
    _check_positive(out.batch_size, f"{where}: batch_size")
    _check_positive(out.optim.lr, f"{where}: optim.lr")
    _check_positive(out.optim.reference_batch_size, f"{where}: optim.reference_batch_size")
    _check_positive(out.optim.grad_clip, f"{where}: optim.grad_clip")
    _check_positive(out.eval.every, f"{where}: eval.every")
    _check_positive(out.eval.clips, f"{where}: eval.clips")
    _check_positive(out.eval.crops, f"{where}: eval.crops")
    _check_positive(out.eval.batch_size, f"{where}: eval.batch_size")
    _check_positive(out.workers, f"{where}: workers", allow_zero=True)
    _check_positive(out.log_every, f"{where}: log_every")
    _check_positive(out.max_steps_per_epoch, f"{where}: max_steps_per_epoch")
    _check_positive(out.schedule.warmup_epochs, f"{where}: schedule.warmup_epochs", allow_zero=True)
    _check_positive(out.schedule.warmup_start_lr, f"{where}: schedule.warmup_start_lr", allow_zero=True)
    if not 0.0 <= out.dropout < 1.0:
        raise ConfigError(f"{where}: dropout must be in [0, 1), got {out.dropout!r}")
    for m in out.schedule.milestones:
        if not 0 < m < out.epochs:
            raise ConfigError(
                f"{where}: schedule.milestones: {m} is outside 1..{out.epochs - 1} (epochs: {out.epochs})"
            )
    if out.num_classes is not None:
        _check_positive(out.num_classes, f"{where}: num_classes")
    check_logger_names(out.loggers, f"{where}: loggers")
    if out.amp not in AMP_MODES:
        raise ConfigError(f"{where}: amp: invalid value {out.amp!r} (valid values: {', '.join(AMP_MODES)}, true, false)")


def _schedule(schedule: ScheduleConfig, default_name: str, epochs: int) -> ScheduleConfig:
    """The protocol's schedule where the config leaves it open (multistep: its default milestones)."""
    name = schedule.name or default_name
    milestones = schedule.milestones
    if milestones is None:
        milestones = protocol.default_milestones(epochs) if name == "multistep" else []
    return dataclasses.replace(schedule, name=name, milestones=sorted(milestones))


def resolve(cfg: RunConfig, where: str = "run config") -> RunConfig:
    """Fill every protocol default and check the values that ``from_dict`` cannot."""
    from benchmark.data import data_config_dict, resolve_data_config
    from benchmark.models import parse_model_name

    try:
        spec = parse_model_name(cfg.model)
    except Exception as exc:  # ModelError: re-raise naming the field
        raise ConfigError(f"{where}: model: {exc}") from exc
    # The full dataset mapping is recorded, so the run does not depend on preset defaults later.
    data_cfg = resolve_data_config(cfg.dataset, f"{where}: dataset")
    proto = protocol.protocol_defaults(spec.frames, data_cfg.name, cfg.protocol)
    protocol.check_protocol_inputs(cfg.protocol, cfg.init_from, where)
    optim = dataclasses.replace(
        cfg.optim,
        lr=proto["lr"] if cfg.optim.lr is None else cfg.optim.lr,
        momentum=proto["momentum"] if cfg.optim.momentum is None else cfg.optim.momentum,
        weight_decay=proto["weight_decay"] if cfg.optim.weight_decay is None else cfg.optim.weight_decay,
    )
    epochs = proto["epochs"] if cfg.epochs is None else cfg.epochs
    schedule = _schedule(cfg.schedule, proto["schedule"], epochs)
    pretrained = cfg.pretrained
    if pretrained == "auto":
        # ImageNet where torchvision has weights for the model; from scratch otherwise (VoV3D, ...).
        from benchmark.models import has_imagenet_weights

        pretrained = "imagenet" if not cfg.init_from and has_imagenet_weights(spec) else None
    evaluation = dataclasses.replace(
        cfg.eval,
        clips=data_cfg.test_clips if cfg.eval.clips is None else cfg.eval.clips,
        crops=data_cfg.test_crops if cfg.eval.crops is None else cfg.eval.crops,
    )
    out = dataclasses.replace(
        cfg,
        model=spec.name,
        dataset=data_config_dict(data_cfg),
        num_classes=data_cfg.num_classes if cfg.num_classes is None else cfg.num_classes,
        eval=evaluation,
        workers=data_cfg.num_workers if cfg.workers is None else cfg.workers,
        pretrained=pretrained,
        dropout=proto["dropout"] if cfg.dropout is None else cfg.dropout,
        epochs=epochs,
        batch_size=proto["batch_size"] if cfg.batch_size is None else cfg.batch_size,
        sync_bn=proto["sync_bn"] if cfg.sync_bn is None else cfg.sync_bn,
        optim=optim,
        schedule=schedule,
        amp=amp_mode(cfg.amp),
    )
    _check_values(out, where)
    return out


def load_run_config(source: str | Path | dict, where: str | None = None) -> RunConfig:
    """A YAML file path or a mapping -> resolved :class:`RunConfig`."""
    if isinstance(source, dict):
        data, where = source, where or "run config"
    else:
        data, where = load_yaml(source), where or str(source)
    cfg = from_dict(RunConfig, data, f"{where}: ")
    return resolve(cfg, where)


def config_to_dict(cfg: RunConfig) -> dict:
    return to_dict(cfg)


def _field_defaults(cls) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:  # tuples are recorded as YAML lists
            out[f.name] = list(f.default) if isinstance(f.default, tuple) else f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
            out[f.name] = to_dict(value) if dataclasses.is_dataclass(value) else value
    return out


def _sections() -> dict[str, type]:
    return {"optim": OptimConfig, "schedule": ScheduleConfig, "eval": EvalConfig, "dataset": DataConfig}


def same_run(recorded: Any, current: dict, cls: type = RunConfig) -> bool:
    """Whether a recorded ``config.yaml`` mapping describes the run ``current`` describes, allowing
    keys a newer stbench added: absent from the record and at their default now (an older run
    with a checkpoint must stay resumable after an upgrade)."""
    if not isinstance(recorded, dict):
        return recorded == current
    if cls is RunConfig and "amp" in recorded:  # `amp: true` (before AMP_MODES) is today's `amp: fp16`
        recorded = {**recorded, "amp": amp_mode(recorded["amp"])}
    defaults, sections = _field_defaults(cls), _sections() if cls is RunConfig else {}
    for key, value in current.items():
        if key not in recorded:
            if key not in defaults or defaults[key] != value:
                return False
        elif key in sections and isinstance(value, dict):
            if not same_run(recorded[key], value, sections[key]):
                return False
        elif recorded[key] != value:
            return False
    return all(key in current for key in recorded)
