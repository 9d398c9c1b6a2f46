"""``stbench weights import``: a published checkpoint -> an stbench weights file record."""

from __future__ import annotations

from pathlib import Path

import torch

from benchmark.errors import ModelError
from benchmark.models.build import build_model
from benchmark.models.naming import parse_model_name
from benchmark.models.published.matching import assemble
from benchmark.models.published.source import SOURCES
from benchmark.models.published.weights_file import FORMAT, sha256_of


def read_checkpoint(path: Path) -> object:
    """The file's objects, loaded without running pickled code (``weights_only``)."""
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated, not a torch file, pickled classes
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ModelError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {first})") from exc


def classifier_key(model) -> str | None:
    """The weight of the model's last linear layer: its classifier (``head.fc`` on the 2D and 3D
    networks, ``classifier.fc`` on SlowFast and X3D, ...)."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            last = name
    return None if last is None else f"{last}.weight"


def _skeleton(model_name: str, num_classes: int):
    """The model's structure and tensor shapes, without allocating its weights."""
    with torch.device("meta"):
        return build_model(model_name, num_classes=num_classes)


def import_checkpoint(source_name: str, path: str | Path, model_name: str, num_classes: int | None = None) -> dict:
    """The weights-file record of ``path`` (a checkpoint of ``source_name``) as ``model_name``.
    ``num_classes``: the file's classifier size when None; otherwise it must match it."""
    path = Path(path)
    source = SOURCES.get(source_name, where="weights import")
    spec = parse_model_name(model_name)
    why = source.hosts(spec.name)
    if why:
        raise ModelError(f"{path}: {source.name}: {why}")
    where = f"{path} ({source.name} as {spec.name})"
    tensors = source.tensors(read_checkpoint(path), where)
    model = _skeleton(spec.name, num_classes or 1)
    renamed = source.rename(tensors, model, spec.name, where)
    if not renamed:
        held = ", ".join(sorted(tensors)[:4])
        raise ModelError(f"{where}: not a {source.name} checkpoint of this model: none of the file's keys "
                         f"({held}, ...) is one {source.name}'s code gives {spec.name} ({source.description})")
    classifier = classifier_key(model)
    if num_classes is None:
        if classifier not in renamed:
            raise ModelError(f"{where}: no classifier found to size the model; give --classes")
        num_classes = int(renamed[classifier].value.shape[0])
        model = _skeleton(spec.name, num_classes)
    state = assemble(renamed, tensors, model.state_dict(), where, classifier=classifier)
    return {
        "format": FORMAT, "model": state, "model_name": spec.name, "num_classes": num_classes,
        "source": source.name, "source_file": path.name, "source_sha256": sha256_of(path),
        "input": dict(source.input),
    }
