"""Checkpoints: atomic, ``torch.load(weights_only=True)``-loadable, with everything an exact resume needs.

Only tensors and plain Python types are stored (RNG states included), so loading never runs pickled
code. ``last.pt`` holds the full training state; ``best.pt`` the weights of the best epoch.
"""

from __future__ import annotations

import contextlib
import io
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.engine.atomic_io import write_bytes_atomic
from benchmark.engine.run_layout import CHECKPOINTS
from benchmark.engine.tolerant_read import checkpoint_problem
from benchmark.engine.transfer import trained_as, with_new_classifier
from benchmark.errors import ModelError

FORMAT = 1
LAST = "last.pt"
BEST = "best.pt"
PREVIOUS = "last.prev.pt"  # the last good last.pt before the newest one: the fallback of a resume
DAMAGED_SUFFIX = ".damaged"  # an unloadable checkpoint set aside by ``stbench repair`` (never deleted)
#: What a resumable checkpoint holds besides ``model``.
RESUME_KEYS = ("optimizer", "state", "rng")

log = logging.getLogger("benchmark.engine")


def checkpoint_path(run_dir: str | Path, which: str = "last") -> Path:
    names = {"last": LAST, "best": BEST, "previous": PREVIOUS}
    return Path(run_dir) / CHECKPOINTS / names.get(which, BEST)


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """Atomic and verified (checksum read back) before it replaces anything; the ``last.pt`` it
    replaces is kept as ``last.prev.pt`` so one good resume point always survives a damaged write."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buffer)
    path = Path(path)
    previous = path.with_name(PREVIOUS) if path.name == LAST else None
    write_bytes_atomic(path, buffer.getvalue(), verify=True, keep_previous=previous)


def _short(exc: BaseException) -> str:
    """The first line of a loader's error, bounded, so the file name before it is never cut off."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= 160 else text[:157] + "..."


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt file, pickled objects, ...
        raise ModelError(f"{path}: cannot load checkpoint, damaged ({_short(exc)})") from exc
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ModelError(f"{path}: not an stbench checkpoint (no 'model' entry)")
    return ckpt


def load_resumable(path: str | Path) -> dict:
    """A checkpoint that can continue training (``model`` plus ``RESUME_KEYS``), else ModelError."""
    ckpt = load_checkpoint(path)
    missing = [k for k in RESUME_KEYS if k not in ckpt]
    if missing or not isinstance(ckpt.get("state"), dict) or not isinstance(ckpt.get("rng"), list):
        raise ModelError(f"{path}: not a resumable checkpoint (missing or bad: {', '.join(missing) or 'state/rng'})")
    return ckpt


def resume_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest loadable resume point: ``last.pt``, else ``last.prev.pt`` (logged: which and why).

    None when the run has no checkpoint (it starts from scratch). When checkpoints exist but none
    loads, a ModelError names each and why: a run never restarts from scratch silently. Its message
    starts with the file names and stays short, so a launcher's cut-down reason still shows them."""
    candidates = [p for p in (checkpoint_path(run_dir), checkpoint_path(run_dir, "previous")) if p.exists()]
    errors = []
    for path in candidates:
        try:
            load_resumable(path)
        except ModelError as exc:
            detail = f"cannot load ({_short(exc.__cause__)})" if exc.__cause__ else str(exc).removeprefix(f"{path}: ")
            why = checkpoint_problem(path) or f"{path.name}: {detail[:100]}"
            errors.append(f"{CHECKPOINTS}/{why}")
            continue
        if errors:
            log.warning("resuming from %s: %s", path.name, "; ".join(errors))
        return path
    if errors:
        raise ModelError(f"cannot resume: {'; '.join(errors)}; 'stbench repair RUN_DIR' sets "
                         f"{'them' if len(errors) > 1 else 'it'} aside (the run then starts again), "
                         "or use --resume never")
    return None


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside DDP / torch.compile wrappers (so keys have no 'module.' prefix)."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


# --------------------------------------------------------------------------- RNG states
def get_rng_state() -> dict:
    """Python, NumPy, torch CPU and CUDA generator states as tensors / plain types."""
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": _to_plain(random.getstate()),
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(_to_tuple(state["python"]))
    np_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": int(np_state["pos"])},
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        }
    )
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _to_plain(obj: Any) -> Any:
    if isinstance(obj, tuple):
        return [_to_plain(x) for x in obj]
    return obj


def _to_tuple(obj: Any) -> Any:
    if isinstance(obj, list):
        return tuple(_to_tuple(x) for x in obj)
    return obj


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def global_rng_restored():
    """The global random streams (Python's, NumPy's, torch's on the CPU and on every CUDA device in
    use) as they were before the block: a run seeds them, the caller's process keeps its own."""
    python, numpy = random.getstate(), np.random.get_state()
    devices = range(torch.cuda.device_count()) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(python)
            np.random.set_state(numpy)


# --------------------------------------------------------------------------- initialisation
def load_weights_strict(model: nn.Module, state_dict: dict, source: str) -> None:
    """Copy ``state_dict`` into ``model``; every key must exist with the same shape.

    Progressive training (f8 → f16) relies on the weights being frame-count independent; when they
    are not (a different class count, a different architecture) the error names the parameter and
    both shapes instead of torch's long report.
    """
    target = unwrap(model).state_dict()
    missing = [k for k in target if k not in state_dict]
    unexpected = [k for k in state_dict if k not in target]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing in checkpoint: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"not in model: {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}")
        raise ModelError(f"{source}: checkpoint does not match the model ({'; '.join(parts)})")
    for key, value in target.items():
        got = state_dict[key]
        if tuple(got.shape) != tuple(value.shape):
            raise ModelError(
                f"{source}: shape mismatch for parameter '{key}': checkpoint {tuple(got.shape)}, "
                f"model {tuple(value.shape)}"
            )
    unwrap(model).load_state_dict(state_dict, strict=True)


def init_from_run(model: nn.Module, run_dir: str | Path, which: str = "best") -> Path:
    """Initialise ``model`` from another run's ``best`` (default) or ``last`` checkpoint, or from an
    stbench weights file (``stbench weights import``); another class count gives every weight but
    the classifier (fine-tuning, benchmark.engine.transfer)."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        return _init_from_weights(model, run_dir)
    if not run_dir.is_dir():
        raise ModelError(f"init_from: run directory {run_dir} does not exist")
    path = checkpoint_path(run_dir, which)
    if not path.is_file():
        raise ModelError(f"init_from: {path} not found (has run {run_dir.name} finished?)")
    ckpt = load_checkpoint(path)
    state, classes = with_new_classifier(unwrap(model), ckpt["model"])
    if classes:
        log.info("init_from %s: new classifier for %d classes (the run's had %d), every other weight loaded",
                 path, classes[1], classes[0])
    load_weights_strict(model, state, f"init_from {path}{trained_as(run_dir)}")
    return path


def _init_from_weights(model: nn.Module, path: Path) -> Path:
    from benchmark.models.published.weights_file import load_weights

    record = load_weights(path)
    state, classes = with_new_classifier(unwrap(model), record["model"])
    if classes:
        log.info("init_from %s: new classifier for %d classes (the file's had %d), every other weight loaded",
                 path, classes[1], classes[0])
    load_weights_strict(model, state, f"init_from {path} ({record['model_name']} from {record['source']} "
                                      f"{record['source_file']})")
    return path
