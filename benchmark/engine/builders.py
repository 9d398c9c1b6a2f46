"""What a run is built from, shared by training, its final test, ``evaluate()`` and ``stbench bench``:
the device, the model (from the config, or restored from a checkpoint), the optimiser and the loaders.

Training builds them in a fixed order (seed, model, optimiser, loaders, restored RNG state); the
loaders never draw from the global RNG, so exact resume and same-seed reproducibility hold.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from benchmark.data import DataConfig, VideoLoader, build_loader, resolve_data_config
from benchmark.engine.checkpoint import init_from_run, load_checkpoint, load_weights_strict, seed_everything
from benchmark.engine.distributed import DistInfo, cuda_index
from benchmark.engine.protocol import effective_lr
from benchmark.engine.run_config import RunConfig, amp_mode
from benchmark.engine.run_loggers import RunLoggers
from benchmark.errors import ConfigError

log = logging.getLogger("benchmark.engine")


def run_device(cfg: RunConfig) -> torch.device:
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("device: cuda requested but no CUDA device is available")
        return torch.device("cuda", cuda_index())
    return torch.device("cpu")


@contextlib.contextmanager
def determinism(cfg: RunConfig, device: torch.device):
    """Deterministic algorithms / cudnn autotuning for the run, restored afterwards (these are
    process-global and the engine may run inside a longer-lived process, e.g. a submitit worker)."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]


@dataclass(frozen=True)
class RunInputs:
    """The dataset and the model's input contract (clip length, normalisation) of a run config."""

    data: DataConfig
    num_classes: int
    spec: Any  # benchmark.models.ModelSpec
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def of(cls, cfg: RunConfig, where: str = "dataset") -> RunInputs:
        from benchmark.models import input_normalization, parse_model_name

        data = resolve_data_config(cfg.dataset, where)
        mean, std = input_normalization(cfg.model)
        weights = initial_weights_file(cfg)
        if cfg.normalization is not None:  # the config's own, over everything
            mean, std = tuple(cfg.normalization["mean"]), tuple(cfg.normalization["std"])
        elif weights is not None:  # published weights: the preprocessing their source trained with
            from benchmark.models.published.weights_file import load_weights

            source_input = load_weights(weights)["input"]
            mean, std = tuple(source_input["mean"]), tuple(source_input["std"])
        return cls(data, cfg.num_classes or data.num_classes, parse_model_name(cfg.model), mean, std)


def initial_weights_file(cfg: RunConfig) -> str | None:
    """The stbench weights file (``stbench weights import``) a run starts from: ``init_from: FILE``,
    or ``pretrained: FILE`` when FILE is one (else ``pretrained`` is a backbone's ImageNet weights)."""
    from benchmark.models.published.weights_file import is_weights_file

    for path in (cfg.init_from, cfg.pretrained):
        if isinstance(path, str) and path not in ("imagenet", "auto") and is_weights_file(path):
            return path
    return None


def build_run_model(cfg: RunConfig, num_classes: int) -> nn.Module:
    from benchmark.models import build_model

    pretrained = cfg.pretrained
    if initial_weights_file(cfg) == pretrained:
        pretrained = None  # a whole model's weights: loaded after building (init_from's way)
    return build_model(cfg.model, num_classes, pretrained=pretrained, dropout=cfg.dropout,
                       inflate=cfg.inflate, **cfg.model_options)


def restored_model(cfg: RunConfig, num_classes: int, path, where: str) -> tuple[nn.Module, dict]:
    """The run's model with a checkpoint's weights (strictly), and the checkpoint. The checkpoint
    overwrites every weight, so no ImageNet weights are fetched (but building still draws from
    the global RNG, like a fresh model: resume keeps the same random stream)."""
    model = build_run_model(dataclasses.replace(cfg, pretrained=None), num_classes)
    ckpt = load_checkpoint(path)
    load_weights_strict(model, ckpt["model"], where)
    return model, ckpt


def autocast_dtype(amp, device: torch.device) -> torch.dtype | None:
    """The autocast type of an ``amp`` value on ``device`` (None: float32). fp16 only on CUDA, as
    ``amp: true`` always was; bf16 on CUDA and CPU."""
    mode = amp_mode(amp)
    if mode == "bf16":
        return torch.bfloat16
    if mode == "fp16" and device.type == "cuda":
        return torch.float16
    return None


def autocast(amp, device: torch.device):
    """The autocast context of an ``amp`` value on ``device`` (disabled for float32)."""
    dtype = autocast_dtype(amp, device)
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def has_conv3d(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv3d) for m in model.modules())


def to_memory_format(model: nn.Module) -> nn.Module:
    """Channels-last weights: ``channels_last`` for 2D convolutions, ``channels_last_3d`` for 3D ones
    (``Module.to(memory_format=)`` would apply one format to every 4D and 5D weight)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.to(memory_format=torch.channels_last)
        elif isinstance(m, nn.Conv3d):
            m.to(memory_format=torch.channels_last_3d)
    return model


def place_model(model: nn.Module, cfg: RunConfig, info: DistInfo, device: torch.device) -> nn.Module:
    """SyncBatchNorm when asked (CUDA DDP only), the model on ``device``, channels-last when asked."""
    if cfg.sync_bn and info.distributed:
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        else:
            log.warning("sync_bn ignored: SyncBatchNorm needs CUDA")
    model = model.to(device)
    return to_memory_format(model) if cfg.channels_last else model


def _fused_always(optimizer: torch.optim.Optimizer) -> None:
    """Keep the fused kernel after ``load_state_dict`` (a checkpoint's groups replace the current ones;
    one saved before the fused kernel says ``fused: None``) and give every parameter a momentum
    buffer: the fused kernel leaves a new buffer unwritten when it skips the first step."""
    for group in optimizer.param_groups:
        group["fused"], group["foreach"] = True, None
        if group["momentum"]:
            for p in group["params"]:
                optimizer.state[p].setdefault("momentum_buffer", torch.zeros_like(p))


def build_optimizer(cfg: RunConfig, model: nn.Module) -> tuple[torch.optim.Optimizer, float]:
    """SGD at the protocol's learning rate scaled to the batch size; returns it and that base rate.

    The fused kernel (one pass per tensor; the default kernel's numbers up to float32 rounding)
    takes a ``found_inf`` flag on the device, so a non-finite step is skipped without reading it on
    the host (``epoch.train_step``; GradScaler uses the same flag)."""
    lr0 = effective_lr(cfg.optim.lr, cfg.batch_size, cfg.optim.lr_scaling, cfg.optim.reference_batch_size)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr0, momentum=cfg.optim.momentum,
                                weight_decay=cfg.optim.weight_decay, nesterov=cfg.optim.nesterov, fused=True)
    _fused_always(optimizer)
    optimizer.register_load_state_dict_post_hook(_fused_always)
    return optimizer, lr0


def ddp_wrap(model: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """The module the training steps run (DDP over the processes, or the model itself)."""
    if not info.distributed:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def control_group(info: DistInfo, device: torch.device):
    """The process group for the per-step agreement (stop flag, good-sample counts): a gloo group
    on the host beside NCCL, so agreeing never waits for the GPU; the default group on CPU."""
    if not info.distributed or device.type == "cpu":
        return None
    return torch.distributed.new_group(backend="gloo")


def per_rank_batch(cfg: RunConfig, info: DistInfo) -> int:
    if cfg.batch_size % info.world_size:
        raise ConfigError(f"batch_size {cfg.batch_size} is not divisible by the {info.world_size} processes")
    return cfg.batch_size // info.world_size


def eval_batch(cfg: RunConfig, info: DistInfo, views: int = 1) -> int:
    """Videos per process and evaluation batch: the eval batch (in clips) shared by ranks and views."""
    return max(1, max(1, (cfg.eval.batch_size or cfg.batch_size) // info.world_size) // views)


def split_loader(inputs: RunInputs, cfg: RunConfig, split: str, info: DistInfo, device: torch.device, *,
                 train: bool, batch_size: int, clips: int = 1, crops: int = 1) -> VideoLoader:
    """The data layer's loader of ``split`` for this run and process."""
    return build_loader(inputs.data, split, frames=inputs.spec.frames, mean=inputs.mean, std=inputs.std,
                        train=train, batch_size=batch_size, num_clips=clips, num_crops=crops, seed=cfg.seed,
                        num_workers=cfg.workers, rank=info.rank, world_size=info.world_size,
                        device=device)  # on CUDA: pinned memory, persistent workers, prefetch 4


def testing_loader(inputs: RunInputs, cfg: RunConfig, info: DistInfo, device: torch.device,
                clips: int, crops: int) -> VideoLoader:
    """The evaluation split with ``clips`` x ``crops`` views per video (the final test, ``evaluate``)."""
    return split_loader(inputs, cfg, cfg.eval.split, info, device, train=False,
                        batch_size=eval_batch(cfg, info, clips * crops), clips=clips, crops=crops)


@dataclass(kw_only=True)
class StepParts:
    """What one training step uses (:func:`benchmark.engine.epoch.train_on`), built by
    :func:`build_step_parts` for training and for ``stbench bench`` alike: the bench times the step
    that trains."""

    cfg: RunConfig
    info: DistInfo
    device: torch.device
    model: nn.Module  # the bare model (checkpointed, evaluated)
    train_model: nn.Module  # what the steps run: DDP around ``model``, or ``model`` (compiled if asked)
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    lr0: float
    control: Any = None  # the process group of the per-step agreement (``control_group``)
    clips_last_3d: bool = False  # clips go in as channels_last_3d (channels_last and a 3D model)

    @property
    def amp(self) -> str | None:
        """The autocast mode applied on this device (``fp16``/``bf16``), None for float32."""
        return amp_mode(self.cfg.amp) if autocast_dtype(self.cfg.amp, self.device) else None

    def model_format(self, video: torch.Tensor) -> torch.Tensor:
        """A clip in the memory format of a channels-last 3D model (2D models reshape it to frames
        first, and their channels-last weights set the format from the first convolution on)."""
        if self.clips_last_3d and video.dim() == 5:
            return video.contiguous(memory_format=torch.channels_last_3d)
        return video


@dataclass(kw_only=True)
class Training(StepParts):
    """Everything one training run steps: built once by :func:`build_training`."""

    inputs: RunInputs
    loader: VideoLoader
    val_loader: VideoLoader
    steps: int  # batches per epoch
    ckpt: dict | None  # the checkpoint resumed from
    loggers: RunLoggers = field(default_factory=lambda: RunLoggers([]))  # live loggers (main process only)


def build_scaler(cfg: RunConfig, device: torch.device) -> torch.amp.GradScaler:
    """GradScaler for float16 autocast (CUDA); a disabled one otherwise (bf16 and float32 need none)."""
    return torch.amp.GradScaler("cuda", enabled=autocast_dtype(cfg.amp, device) == torch.float16)


def build_step_parts(cfg: RunConfig, model: nn.Module, info: DistInfo, device: torch.device) -> StepParts:
    """``model`` placed on ``device`` (channels-last when asked), its fused SGD at the protocol's rate,
    the GradScaler and the module the steps run (DDP, ``torch.compile`` when asked). Draws nothing
    from the global RNG, so the random stream after the model is the one resume relies on."""
    model = place_model(model, cfg, info, device)
    optimizer, lr0 = build_optimizer(cfg, model)
    train_model = ddp_wrap(model, info, device)
    if cfg.compile:
        train_model = torch.compile(train_model)
    return StepParts(cfg=cfg, info=info, device=device, model=model, train_model=train_model, optimizer=optimizer,
                     scaler=build_scaler(cfg, device), lr0=lr0, control=control_group(info, device),
                     clips_last_3d=cfg.channels_last and has_conv3d(model))


def build_training(cfg: RunConfig, inputs: RunInputs, info: DistInfo, device: torch.device,
                   resume_from=None) -> Training:
    """Seed, then model (fresh, ``init_from`` or the checkpoint ``resume_from``), optimiser, loaders:
    this order fixes the global random stream, which same-seed runs and exact resume rely on."""
    per_rank = per_rank_batch(cfg, info)
    seed_everything(cfg.seed)
    ckpt = None
    if resume_from is not None:
        model, ckpt = restored_model(cfg, inputs.num_classes, resume_from, f"resume {resume_from}")
    else:
        model = build_run_model(cfg, inputs.num_classes)
        start = cfg.init_from or (initial_weights_file(cfg) if cfg.pretrained else None)
        if start:
            log.info("initialised from %s", init_from_run(model, start, cfg.init_checkpoint))
    parts = build_step_parts(cfg, model, info, device)
    loader = split_loader(inputs, cfg, "train", info, device, train=True, batch_size=per_rank)
    val_loader = split_loader(inputs, cfg, cfg.eval.split, info, device, train=False,
                              batch_size=eval_batch(cfg, info))
    steps_full = len(loader.sampler) // per_rank
    if steps_full == 0:
        raise ConfigError(f"batch_size {cfg.batch_size}: larger than the training set ({len(loader.dataset)} "
                          f"clips) shared by {info.world_size} process(es)")
    steps = min(steps_full, cfg.max_steps_per_epoch or steps_full)
    shared = {f.name: getattr(parts, f.name) for f in dataclasses.fields(StepParts)}
    return Training(**shared, inputs=inputs, loader=loader, val_loader=val_loader, steps=steps, ckpt=ckpt)
