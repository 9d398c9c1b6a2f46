"""The run directory's layout (docs/run-directory.md): its file names, the one state vocabulary,
the state record's writer and the temporaries a killed writer leaves.

The engine writes the run directory, so the engine layer owns its format; every reader takes the
names and states from here (the reader itself is :mod:`benchmark.engine.run_reader`).
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
from pathlib import Path

from benchmark.engine.atomic_io import TMP_SUFFIX, write_json_atomic

# -- states: one vocabulary ------------------------------------------------------------------------
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
#: What the files say (``state.json``, or ``result.json`` for done): the engine writes these.
STATES = (PENDING, RUNNING, DONE, FAILED)
#: What ``launch``/``status`` add from the job's view: ``planned`` never submitted, ``blocked`` an
#: upstream run failed, ``interrupted`` its job ended mid-run (resumable), ``cancelled``, and
#: ``unknown`` submitted to a scheduler this shell cannot ask.
CANCELLED, INTERRUPTED, BLOCKED, PLANNED, UNKNOWN = "cancelled", "interrupted", "blocked", "planned", "unknown"
#: What the reader concludes when the files contradict themselves: ``result.json`` exists but is
#: unusable, or ``state.json`` says done without one. Never done; a relaunch re-evaluates it.
DAMAGED = "damaged"
RUN_STATES = (DONE, RUNNING, PENDING, FAILED, DAMAGED, CANCELLED, INTERRUPTED, BLOCKED, PLANNED, UNKNOWN)

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
CHECKPOINT_FILES = ("last.pt", "last.prev.pt", "best.pt")  # engine.checkpoint's names
PREDICTIONS_HEADER = "index,video,label,pred,correct1,correct5"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


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


def stale_temporaries(run_dir: str | Path) -> list[Path]:
    """Temporaries (``.NAME.*.tmp``) left in the run directory and its checkpoints by a killed writer."""
    run_dir = Path(run_dir)
    found = []
    for folder in (run_dir, run_dir / CHECKPOINTS):
        if folder.is_dir():
            found += [p for p in folder.glob(f".*{TMP_SUFFIX}") if p.is_file()]
    return sorted(found)


def clean_temporaries(run_dir: str | Path) -> list[Path]:
    """Remove :func:`stale_temporaries`; only the run's one writer (its claim holder) may call this."""
    removed = []
    for tmp in stale_temporaries(run_dir):
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed
