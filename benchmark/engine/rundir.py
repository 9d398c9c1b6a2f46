"""The run directory (docs/run-directory.md): its file names, its states, atomic writes, and the
one tolerant reader of it.

The engine writes the run directory, so the engine layer owns its format; ``launch`` (status,
relaunch, cancel) and ``analysis.collect`` read it only through :func:`read_run`, so that every
reader tells a run's state by the same rules. Readers never see a half-written JSON (every JSON
goes through :func:`write_json_atomic`) and never crash on a corrupt one (it is named in
:attr:`RunFiles.problems`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmark.engine.schema import validate_metrics_line
from benchmark.models.naming import parse_model_name, split_model_name

# -- states: one vocabulary ------------------------------------------------------------------------
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
#: What the files say (``state.json``, or ``result.json`` for done): the engine writes these.
STATES = (PENDING, RUNNING, DONE, FAILED)
#: What ``launch``/``status`` add from the job's view: ``planned`` never submitted, ``blocked`` an
#: upstream run failed, ``interrupted`` its job ended mid-run (resumable), ``cancelled``, and
#: ``unknown`` submitted to a scheduler this shell cannot ask.
CANCELLED, INTERRUPTED, BLOCKED, PLANNED, UNKNOWN = "cancelled", "interrupted", "blocked", "planned", "unknown"
RUN_STATES = (DONE, RUNNING, PENDING, FAILED, CANCELLED, INTERRUPTED, BLOCKED, PLANNED, UNKNOWN)

# -- file names ------------------------------------------------------------------------------------
CONFIG = "config.yaml"
STATE = "state.json"
METRICS = "metrics.jsonl"
RESULT = "result.json"
PREDICTIONS = "predictions.csv"
LOGITS = "predictions.npz"
LOG = "log.txt"
CHECKPOINTS = "checkpoints"
LAUNCH = "launch.json"  # written by launch: the jobs submitted for the run
RUN_FILES = (CONFIG, STATE, RESULT)  # a directory holding any of these is a run directory


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(obj: Any) -> str:
    """Strict JSON (NaN/inf are refused: a reader in another language would choke on them)."""
    return json.dumps(obj, default=_json_default, allow_nan=False, sort_keys=False)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, default=_json_default, allow_nan=False, indent=2) + "\n").encode())


def read_json_checked(path: str | Path) -> tuple[Any, str | None]:
    """``(object, None)``, or ``(None, why it could not be read)``; a missing file is ``(None, None)``."""
    path = Path(path)
    if not path.is_file():
        return None, None
    try:
        return json.loads(path.read_text()), None
    except OSError as exc:
        return None, f"{path.name}: cannot read ({exc.strerror or exc})"
    except ValueError as exc:
        return None, f"{path.name}: invalid JSON, probably half-written ({exc})"


def read_json(path: str | Path) -> Any | None:
    """The parsed file, or None if it is missing or unreadable (a reader must not crash)."""
    return read_json_checked(path)[0]


def read_config(run_dir: str | Path) -> tuple[dict, str | None]:
    """``config.yaml`` as a mapping (``{}`` if missing or unreadable) and why it could not be read."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        return {}, None
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, ValueError, yaml.YAMLError) as exc:  # ValueError: cut inside a UTF-8 character
        return {}, f"{CONFIG}: unreadable ({(str(exc).splitlines() or [type(exc).__name__])[0]})"
    return (data, None) if isinstance(data, dict) else ({}, f"{CONFIG}: not a mapping")


def write_state(run_dir: str | Path, state: str, *, reason: str | None = None, epoch: int = 0) -> dict:
    assert state in STATES, state
    record = {
        "state": state,
        "reason": reason,
        "epoch": int(epoch),
        "updated": now_iso(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "job_id": os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_JOB_ID") or None,
    }
    write_json_atomic(Path(run_dir) / STATE, record)
    return record


@dataclass
class RunFiles:
    """What a run directory's files say, read by the documented state rules."""

    state: str  # one of STATES
    reason: str | None  # state.json's reason (None when done)
    epoch: int | None  # finished epochs (None: no file says)
    result: dict | None  # result.json, when the run is done
    problems: list[str] = field(default_factory=list)  # files that exist but cannot be used, named


def _epoch(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_run(run_dir: str | Path) -> RunFiles:
    """The run's state: a readable ``result.json`` → done; else ``state.json``'s state; neither →
    pending. A corrupt file counts as absent and is named in ``problems`` instead of raising."""
    run_dir = Path(run_dir)
    result, why = read_json_checked(run_dir / RESULT)
    if isinstance(result, dict):
        return RunFiles(DONE, None, _epoch(result.get("epochs")) or 0, result)
    problems = [why] if why else ([f"{RESULT}: not a JSON object"] if result is not None else [])
    state, why = read_json_checked(run_dir / STATE)
    if isinstance(state, dict) and state.get("state") in STATES:
        reason = state.get("reason")
        return RunFiles(state["state"], str(reason) if reason else None, _epoch(state.get("epoch")), None,
                        problems)
    if why:
        problems.append(why)
    elif state is not None:
        problems.append(f"{STATE}: no valid state (valid: {', '.join(STATES)})")
    return RunFiles(PENDING, None, None, None, problems)


def run_state(run_dir: str | Path) -> dict:
    """:func:`read_run` as ``{"state", "reason", "epoch"}`` (the engine's resume decisions)."""
    files = read_run(run_dir)
    return {"state": files.state, "reason": files.reason, "epoch": files.epoch or 0}


def best_top1(run_dir: str | Path, files: RunFiles | None = None) -> float | None:
    """The final top-1 of a done run, else the best so far from ``metrics.jsonl``."""
    files = files or read_run(run_dir)
    if files.result is not None and files.result.get("top1") is not None:
        return files.result["top1"]
    values = [m["best_top1"] for m in read_metrics(run_dir) if isinstance(m, dict) and m.get("best_top1") is not None]
    return max(values) if values else None


def find_run_dirs(folder: str | Path) -> list[Path]:
    """Every run directory below ``folder`` (one holding any of ``RUN_FILES``), sorted."""
    found = []
    for root, dirs, files in os.walk(Path(folder)):
        if any(name in files for name in RUN_FILES):
            found.append(Path(root))
            dirs[:] = []  # a run directory's checkpoints/ holds no further runs
        else:
            dirs.sort()
    return sorted(found)


def model_identity(name: Any) -> dict | None:
    """``model``/``module``/``backbone``/``tp``/``frames`` of a model name, tolerantly: the registry's
    reading when it knows the name (architectures, plugins), else the naming rule's reading as
    written (a module not registered in this shell); None if ``name`` is not a model name."""
    if not isinstance(name, str):
        return None
    try:
        spec = parse_model_name(name)
        written = spec.name
    except Exception:  # noqa: BLE001 - unknown or unloadable: read it by the naming rule alone
        spec, written = split_model_name(name), name
        if spec is None:
            return None
    return {"model": written, "module": spec.module, "backbone": spec.backbone, "tp": spec.tp,
            "frames": spec.frames}


def append_metrics(run_dir: str | Path, line: dict) -> None:
    """Append one epoch's line; the whole line goes in one write so a crash leaves no fragment."""
    validate_metrics_line(line)
    with open(Path(run_dir) / METRICS, "a") as fh:
        fh.write(dumps(line) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_metrics(run_dir: str | Path) -> list[dict]:
    """Every complete line of ``metrics.jsonl`` (a torn last line is ignored)."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    out = []
    for text in path.read_text().splitlines():
        try:
            out.append(json.loads(text))
        except ValueError:
            continue
    return out


def truncate_metrics(run_dir: str | Path, epochs: int) -> None:
    """Keep the lines of epochs ``<= epochs``: a resumed run rewrites the epochs after its checkpoint."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return
    kept = [m for m in read_metrics(run_dir) if m.get("epoch", 0) <= epochs]
    write_bytes_atomic(path, "".join(dumps(m) + "\n" for m in kept).encode())
