"""The run directory (docs/run-directory.md): atomic writes, the run state, the metrics log.

Readers (``launch``, ``status``, ``collect``) must tell a run's state from the files alone and
never see a half-written JSON, hence every JSON goes through :func:`write_json_atomic`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

STATES = ("pending", "running", "done", "failed")

CONFIG = "config.yaml"
STATE = "state.json"
METRICS = "metrics.jsonl"
RESULT = "result.json"
PREDICTIONS = "predictions.csv"
LOGITS = "predictions.npz"
LOG = "log.txt"
CHECKPOINTS = "checkpoints"


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


def read_json(path: str | Path) -> Any | None:
    """The parsed file, or None if it is missing or unreadable (a reader must not crash)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


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


def run_state(run_dir: str | Path) -> dict:
    """The run's state by the documented rules: ``{"state", "reason", "epoch"}``.

    ``result.json`` present → done; else ``state.json``'s state; neither → pending.
    """
    run_dir = Path(run_dir)
    if (run_dir / RESULT).is_file() and read_json(run_dir / RESULT) is not None:
        result = read_json(run_dir / RESULT)
        return {"state": "done", "reason": None, "epoch": result.get("epoch", result.get("epochs", 0))}
    state = read_json(run_dir / STATE)
    if not isinstance(state, dict) or state.get("state") not in STATES:
        return {"state": "pending", "reason": None, "epoch": 0}
    return {"state": state["state"], "reason": state.get("reason"), "epoch": state.get("epoch", 0)}


def append_metrics(run_dir: str | Path, line: dict) -> None:
    """Append one epoch's line; the whole line goes in one write so a crash leaves no fragment."""
    from benchmark.engine.schema import validate_metrics_line

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
