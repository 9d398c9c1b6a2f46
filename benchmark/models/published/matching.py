"""Assemble a model's state dict from renamed file tensors, strictly: every tensor of the file used,
every tensor of the model filled with the right shape; otherwise one line saying what differs."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from benchmark.errors import ModelError
from benchmark.models.published.source import Renamed


def _few(keys: list[str], limit: int = 4) -> str:
    return f"{', '.join(keys[:limit])}{f' and {len(keys) - limit} more' if len(keys) > limit else ''} ({len(keys)})"


def _check_shapes(renamed: Mapping[str, Renamed], target: Mapping[str, torch.Tensor], where: str,
                  classifier: str | None) -> None:
    for key, item in renamed.items():
        want = tuple(target[key].shape)
        got = tuple(item.value.shape)
        if got == want:
            continue
        hint = ""
        if classifier is not None and key in (classifier, classifier.removesuffix("weight") + "bias"):
            hint = f"; the file's classifier has {got[0]} classes: import with --classes {got[0]} (fine-tuning replaces it)"
        raise ModelError(f"{where}: shape mismatch for {key} (from {', '.join(item.sources)}): "
                         f"file {got}, model {want}{hint}")


def assemble(renamed: Mapping[str, Renamed], file_tensors: Mapping[str, torch.Tensor],
             target: Mapping[str, torch.Tensor], where: str, classifier: str | None = None) -> dict[str, torch.Tensor]:
    """The state dict for a model whose own state dict is ``target`` (``classifier``: its weight's
    key, for the hint on a class-count mismatch). Older files lack BatchNorm's
    ``num_batches_tracked`` counters (not learned): those start at 0, as in a fresh model."""
    unknown = sorted(k for k in renamed if k not in target)
    if unknown:
        raise ModelError(f"{where}: the importer produced keys the model does not have: {_few(unknown)}")
    used = {s for item in renamed.values() for s in item.sources}
    unexpected = sorted(k for k in file_tensors if k not in used)
    missing = sorted(k for k in target if k not in renamed and not k.endswith("num_batches_tracked"))
    if unexpected or missing:
        parts = [f"file tensors with no place in the model: {_few(unexpected)}"] if unexpected else []
        parts += [f"model tensors the file does not provide: {_few(missing)}"] if missing else []
        raise ModelError(f"{where}: the file does not match the model ({'; '.join(parts)})")
    _check_shapes(renamed, target, where, classifier)
    state = {key: item.value.detach().to("cpu", target[key].dtype).clone() for key, item in renamed.items()}
    for key, value in target.items():
        state.setdefault(key, torch.zeros(value.shape, dtype=value.dtype))  # num_batches_tracked (target may be on meta)
    return state


def one_to_one(file_tensors: Mapping[str, torch.Tensor], rename) -> dict[str, Renamed]:
    """``rename(file_key) -> model key or None`` applied to each tensor of the file."""
    out: dict[str, Renamed] = {}
    for key, value in file_tensors.items():
        target = rename(key)
        if target is not None:
            out[target] = Renamed(value, (key,))
    return out
