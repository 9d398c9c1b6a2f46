"""Pieces shared by the complete architectures: loading local weights, input checks, the classifier.

Option checks live in :mod:`benchmark.models.options`, the initialisation in
:mod:`benchmark.models.weight_init` (both shared with the other builders).

The leading underscore keeps ``load_plugins`` from importing this file as an architecture.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from benchmark.errors import ModelError
from benchmark.models.options import check_dropout, check_options, reject_tp
from benchmark.models.weights import read_state_dict


def load_local_weights(model: nn.Module, pretrained, name: str, *, imagenet_hint: str,
                       optional: tuple[str, ...] = (), ignore: tuple[str, ...] = (),
                       convert=None) -> None:
    """Load ``pretrained`` (None or a local file) into ``model``.

    These architectures have no torchvision ImageNet weights, so ``"imagenet"`` is refused with
    ``imagenet_hint`` saying what to pass instead. Every parameter must match by name and shape (a
    silent partial load would make a comparison unfair), except keys starting with a prefix in
    ``optional`` (or returned by ``optional(state)``), which keep their initialisation when the file
    lacks them; keys of the file that
    start with a prefix in ``ignore`` (e.g. an ImageNet classifier) are skipped. ``convert`` maps
    another implementation's state dict to this model's keys first.
    """
    if pretrained is None:
        return
    if pretrained == "imagenet":
        raise ModelError(f"{name}: pretrained='imagenet' is not available: {imagenet_hint} "
                         "(in a run config: 'pretrained: null' or a file path)")
    if not isinstance(pretrained, (str, Path)):
        raise ModelError(f"{name}: pretrained must be None or a local weights file, got {pretrained!r}")
    state = read_state_dict(pretrained)
    if convert is not None:
        state = convert(state)
    state = {k: v for k, v in state.items() if not k.startswith(ignore)}
    if callable(optional):
        optional = tuple(optional(state))
    own = model.state_dict()
    missing = [k for k in own if k not in state and not (optional and k.startswith(optional))]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
                parts.append(f"{label}: {', '.join(keys[:5])}{more}")
        raise ModelError(f"{name}: weights in {pretrained} do not fit the model ({'; '.join(parts)})")
    model.load_state_dict(state, strict=False)


def check_input(name: str, x: torch.Tensor, frames: int) -> None:
    if x.dim() != 5 or x.shape[1] != 3:
        raise ModelError(f"{name}: expected input (B, 3, T, H, W), got {tuple(x.shape)}")
    if x.shape[2] != frames:
        raise ModelError(f"{name}: built for {frames} frames, got an input with T={x.shape[2]}")


class Classifier(nn.Module):
    """Dropout + fc on pooled features. Declares 0 convention-(a) MACs to the profiler: the
    official tables exclude the classifier, whose cost depends on the dataset's class count."""

    def __init__(self, in_features: int, num_classes: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x):
        return self.fc(self.dropout(x))

    def conv_macs(self, inputs, output) -> int:
        return 0


def scratch_builder(family: str, label: str, make, why_no_tp: str):
    """The builder of an architecture trained from scratch: options checked, ``-tp`` refused,
    ``make(num_classes, frames, dropout)``, then ``pretrained`` only as a local checkpoint of it."""

    def build(spec, num_classes: int, **options):
        check_options(spec.name, options)
        reject_tp(spec, why_no_tp)
        model = make(num_classes, spec.frames, check_dropout(spec.name, options.get("dropout", 0.5)))
        load_local_weights(model, options.get("pretrained"), spec.name,
                           imagenet_hint=f"{family} is trained from scratch; pass None or a local checkpoint "
                                         "saved from this model")
        return model

    build.__doc__ = f"Build {label} for ``spec.frames`` frames."
    return build
