"""Inflation of 2D (torchvision) weights into a 3D network whose parameters carry the same names.

Two conventions (the ``inflate`` build option):
- ``"copy"``: the 2D kernel repeated along time — the official implementation's choice;
- ``"divide"``: repeated and divided by the temporal kernel size — I3D's (Carreira & Zisserman), so
  that on a clip of identical frames an inflated conv computes exactly the 2D conv (away from the
  zero-padded clip ends).
A 1×k×k kernel (S3D's spatial half) is the 2D kernel in both conventions. 3D parameters without a
2D counterpart (S3D's temporal convs) keep their initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from benchmark.errors import ModelError

INFLATE_MODES = ("copy", "divide")


def inflate_weight(weight: torch.Tensor, time_size: int, mode: str = "copy") -> torch.Tensor:
    """(out, in, kh, kw) → (out, in, time_size, kh, kw) under convention ``mode``."""
    if mode not in INFLATE_MODES:
        raise ModelError(f"inflate must be one of {', '.join(INFLATE_MODES)}, got {mode!r}")
    if weight.dim() != 4:
        raise ModelError(f"only 4-D conv kernels are inflated, got shape {tuple(weight.shape)}")
    inflated = weight.unsqueeze(2).repeat(1, 1, time_size, 1, 1)
    return inflated / time_size if mode == "divide" else inflated


@dataclass
class InflationReport:
    """What happened to each tensor: 3D keys filled from 2D ones, 3D keys left as initialised
    (no 2D counterpart) and 2D keys that were not used."""

    inflated: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)


def inflate_into(model3d: nn.Module, state2d: dict[str, torch.Tensor], mode: str = "copy", *,
                 skip: tuple[str, ...] = ("fc.", "aux1.", "aux2.")) -> InflationReport:
    """Load ``state2d`` into ``model3d`` in place, inflating 4-D conv kernels to the 3D kernels'
    temporal size; keys starting with a ``skip`` prefix (the ImageNet classifier, GoogLeNet's aux
    heads) are ignored. A tensor whose shape fits neither way is an error naming it."""
    if mode not in INFLATE_MODES:
        raise ModelError(f"inflate must be one of {', '.join(INFLATE_MODES)}, got {mode!r}")
    own = model3d.state_dict()
    report = InflationReport()
    new_state = {}
    for key, target in own.items():
        source = state2d.get(key)
        if source is None or key.startswith(skip):
            report.new.append(key)
            continue
        if source.shape == target.shape:
            new_state[key] = source
            report.copied.append(key)
        elif source.dim() == 4 and target.dim() == 5 and source.shape == target.shape[:2] + target.shape[3:]:
            new_state[key] = inflate_weight(source, target.shape[2], mode)
            report.inflated.append(key)
        else:
            raise ModelError(f"cannot inflate 2D tensor {key!r} of shape {tuple(source.shape)} into "
                             f"{type(model3d).__name__}'s {tuple(target.shape)}")
    report.unused = sorted(k for k in state2d if k not in own and not k.startswith(skip))
    model3d.load_state_dict(new_state, strict=False)
    return report
