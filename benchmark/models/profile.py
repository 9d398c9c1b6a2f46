"""Parameters and multiply-accumulate counts of a model, computed on the ``meta`` device.

Two MAC conventions:

* ``macs_conv`` — convolution and linear multiply-adds only (no BN, pooling, activations or
  element-wise ops), excluding the final classifier: the convention of the paper and of the
  official results table. A module may declare its own cost under this convention with a method
  ``conv_macs(inputs, output) -> int``; the profiler then uses it instead of looking inside (TAM
  declares three depthwise 1×1 convs, heads declare 0 for the classifier, TSM 0 for a shift).
* ``macs_all`` — everything ``torch.utils.flop_counter.FlopCounterMode`` counts (convs, matmuls,
  attention, the classifier, ...), halved from FLOPs to multiply-adds.

Building and running on ``meta`` tensors allocates no memory and computes no values, so profiling
a 64-frame ResNet-50 takes milliseconds.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmark.errors import ModelError
from benchmark.models.build import build_model
from benchmark.models.naming import ModelSpec, parse_model_name

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _standard_macs(module: nn.Module, inputs, output) -> int | None:
    if isinstance(module, _CONVS):
        per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            # Each input element scatters to out_channels/groups * kernel outputs.
            return inputs[0].numel() * module.out_channels // module.groups * math.prod(module.kernel_size)
        return output.numel() * per_output
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    if isinstance(module, nn.Bilinear):
        return output.numel() * module.in1_features * module.in2_features
    return None


class _MacCounter:
    """Forward hooks summing convention-(a) MACs; declared ``conv_macs`` replaces looking inside."""

    def __init__(self, model: nn.Module) -> None:
        declared = {m for m in model.modules() if callable(getattr(m, "conv_macs", None))}
        hidden = {sub for m in declared for sub in m.modules() if sub is not m}
        self.declared = declared
        self.total = 0
        self.handles = [m.register_forward_hook(self._hook) for m in model.modules()
                        if m not in hidden and (m in declared or isinstance(m, (*_CONVS, nn.Linear, nn.Bilinear)))]

    def _hook(self, module, args, output) -> None:
        if module in self.declared:
            self.total += int(module.conv_macs(args, output))
        else:
            self.total += _standard_macs(module, args, output) or 0

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def count_conv_macs(model: nn.Module, *inputs: torch.Tensor) -> int:
    """Convention-(a) MACs of ``model(*inputs)`` (see the module docstring); works on any device."""
    counter = _MacCounter(model)
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        counter.remove()
    return counter.total


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _skip_batch_norms(model: nn.Module) -> None:
    """Make every BatchNorm of a meta-device model a pass-through.

    BatchNorm is element-wise (counted by neither convention and shape-preserving), but on ``meta``
    tensors it runs through Python decompositions that would dominate the profiling time.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.forward = _identity


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def profile_model(name: str | ModelSpec, num_classes: int, size: int | tuple[int, int] = 224,
                  options: dict | None = None) -> dict[str, int]:
    """``{"params", "macs_conv", "macs_all"}`` of ``name`` for one clip of ``size``×``size`` frames
    (or ``(height, width)`` frames: a figure may have been counted on a dataset's native frame shape).

    ``options``: the module's build options that change its structure (a run's ``model_options``,
    e.g. ``tam_placement``); weights are never loaded for counting.

    Params include the classifier for ``num_classes``; ``macs_conv`` excludes it (the official
    table's convention); ``macs_all`` includes everything FlopCounterMode sees. Built on ``meta``;
    a single forward pass feeds both counters.
    """
    spec = parse_model_name(name) if isinstance(name, str) else name
    height, width = (size, size) if isinstance(size, int) else size
    if min(height, width) < 32:
        raise ModelError(f"profile size must be at least 32 pixels, got {size}")
    if num_classes < 1:
        raise ModelError(f"num_classes must be positive, got {num_classes}")
    with torch.device("meta"):
        model = build_model(spec, num_classes, **dict(options or {}))
        clip = torch.empty(1, 3, spec.frames, height, width)
    model.eval()
    _skip_batch_norms(model)
    macs = _MacCounter(model)
    flops = FlopCounterMode(display=False)
    try:
        # Still on meta: tensors a module makes in its forward (torch.ones, arange, ...) must be too.
        with flops, torch.no_grad(), torch.device("meta"):
            model(clip)
    except RuntimeError as exc:
        raise ModelError(f"{spec.name}: cannot be profiled on the meta device ({exc})") from exc
    finally:
        macs.remove()
    return {"params": count_params(model), "macs_conv": macs.total, "macs_all": flops.get_total_flops() // 2}
