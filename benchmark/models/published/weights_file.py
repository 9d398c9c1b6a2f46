"""The weights file ``stbench weights import`` writes: a ``torch.save``d dict loadable with
``torch.load(weights_only=True)`` (documented in docs/published_weights.md):

``format`` ("stbench-weights/1"), ``model`` (a state dict that
``build_model(model_name, num_classes).load_state_dict(..., strict=True)`` accepts), ``model_name``,
``num_classes``, ``source`` (the importer), ``source_file`` and ``source_sha256`` (the checkpoint it
came from), ``input`` (the source's preprocessing: mean, std, value_range, channel_order, crop_size).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import torch

from benchmark.errors import ModelError

FORMAT = "stbench-weights/1"
FIELDS = ("format", "model", "model_name", "num_classes", "source", "source_file", "source_sha256", "input")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def serialize(record: dict) -> bytes:
    """The file's bytes (the caller writes them atomically: engine.atomic_io)."""
    buffer = io.BytesIO()
    torch.save(record, buffer)
    return buffer.getvalue()


def is_weights_file(path: str | Path) -> bool:
    """Whether ``path`` is an stbench weights file (memory-mapped: the tensors are not read)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        record = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - not a zip-format torch file: not ours
        return False
    return isinstance(record, dict) and record.get("format") == FORMAT


def load_weights(path: str | Path) -> dict:
    """A weights file's record, checked: one line naming the file when it is not one."""
    # memory-mapped: the tensors are read only where used (a run reads the identity and the
    # normalisation of a ResNet-101's weights without loading its 170 MB)
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: weights file not found")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # noqa: BLE001 - truncated file, not a torch file, pickled code
        raise ModelError(f"{path}: not a readable weights file ({type(exc).__name__}: "
                         f"{str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ''})") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ModelError(f"{path}: not an stbench weights file (expected format {FORMAT!r}; import a published "
                         "checkpoint first: stbench weights import SOURCE CHECKPOINT --model NAME --out FILE)")
    missing = [f for f in FIELDS if f not in record]
    if missing:
        raise ModelError(f"{path}: weights file lacks {', '.join(missing)}")
    return record


def identity(record: dict) -> dict:
    """What a run records of the weights it started from (everything but the tensors)."""
    return {k: record[k] for k in FIELDS if k != "model"}
