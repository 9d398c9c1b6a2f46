"""A checkpoint source: how one codebase's saved model tensors become stbench's state dict.

A source only renames (and where a layout differs, regroups) tensors; checking that every tensor of
the file is used and every tensor of the model is filled, with the right shape, is
:func:`benchmark.models.published.matching.assemble`'s, the same for every source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from benchmark.errors import ModelError
from benchmark.plugins import Registry

IMAGENET_INPUT = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "value_range": [0.0, 1.0],
                  "channel_order": "RGB"}


@dataclass(frozen=True)
class Renamed:
    """A model tensor built from the file: its value and the file keys it used."""

    value: torch.Tensor
    sources: tuple[str, ...]


@dataclass
class CheckpointSource:
    """``tensors(checkpoint, where)``: the file's model tensors (wrappers such as ``module.`` removed);
    ``rename(tensors, model, model_name, where)``: stbench key -> :class:`Renamed`, for every tensor
    the source knows where to put (what it cannot place is left out; the assembly names it), or a
    :class:`ModelError` naming what the file has that stbench cannot express.
    ``input``: the preprocessing the source trained with (mean, std, value range, channel order,
    training crop size)."""

    name: str
    description: str
    tensors: Callable[[object, str], dict[str, torch.Tensor]]
    rename: Callable[[Mapping[str, torch.Tensor], nn.Module, str, str], dict[str, Renamed]]
    input: dict = field(default_factory=lambda: dict(IMAGENET_INPUT, crop_size=224))
    hosts: Callable[[str], str | None] = lambda model_name: None  # why a model cannot come from here, or None


SOURCES: Registry[CheckpointSource] = Registry("checkpoint source", ("benchmark.models.published.sources",), ModelError)


def register_source(source: CheckpointSource) -> CheckpointSource:
    SOURCES.add(source.name, source)
    return source


def state_dict_of(checkpoint: object, where: str, containers: tuple[str, ...], prefixes: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The tensors under the first of ``containers`` present (or the top level), with the first
    matching wrapper prefix of ``prefixes`` removed from each key; anything else is not a checkpoint
    of this source."""
    data = checkpoint
    if isinstance(data, dict):
        for key in containers:
            if isinstance(data.get(key), dict):
                data = data[key]
                break
    if not isinstance(data, dict) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        held = ", ".join(sorted(map(str, checkpoint))[:6]) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ModelError(f"{where}: not a checkpoint of this source: expected a state dict of tensors under "
                         f"{' or '.join(repr(c) for c in containers)} (the file holds {held})")
    out = {}
    for key, value in data.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        out[key] = value
    return out


def wrapped_operators(model: nn.Module, kind: type[nn.Module]) -> dict[str, str]:
    """Operator module path -> the path of the layer it was inserted before or after. stbench inserts
    a temporal operator by wrapping a layer in ``Sequential(operator, layer)`` (or ``(layer,
    operator)``), so the layer's keys gain ``.0``/``.1`` that the official codes do not have."""
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, kind):
            parent, index = name.rsplit(".", 1)
            out[name] = f"{parent}.{1 - int(index)}"
    return out


def renamed_by_target(target_keys, file_tensors: Mapping[str, torch.Tensor], source_key) -> dict[str, Renamed]:
    """For each model key, ``source_key(key)`` names the file tensor that fills it (or None)."""
    out = {}
    for key in target_keys:
        src = source_key(key)
        if src is not None and src in file_tensors:
            out[key] = Renamed(file_tensors[src], (src,))
    return out
