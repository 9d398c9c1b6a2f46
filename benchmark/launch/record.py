"""The launch record of a run directory (``launch.json``): every job submitted for the run.

It sits next to the engine's files so that relaunch, status and cancel are decided by the results
store alone, from any machine, without an in-memory queue.
"""

from __future__ import annotations

import socket
from pathlib import Path

from benchmark.engine.atomic_io import write_json_atomic
from benchmark.engine.run_layout import LAUNCH, now_iso
from benchmark.engine.tolerant_read import read_json
from benchmark.launch.executor import EXECUTORS


def submissions(run_dir: str | Path) -> list[dict]:
    record = read_json(Path(run_dir) / LAUNCH)
    if not isinstance(record, dict) or not isinstance(record.get("submissions"), list):
        return []
    return [s for s in record["submissions"] if isinstance(s, dict) and s.get("job_id")]


def last_submission(run_dir: str | Path) -> dict | None:
    subs = submissions(run_dir)
    return subs[-1] if subs else None


def add_submission(run_dir: str | Path, *, job_id: str, executor: str, folder: str | Path,
                   depends_on: list[str] | None = None, profile: str | None = None, launch_id: str | None = None) -> dict:
    """Append one submission; ``folder`` holds the job's logs; ``launch_id`` the launch that made it
    (as its claims name it); the executor adds its own fields."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    entry = {"job_id": str(job_id), "executor": executor, "profile": profile, "folder": str(folder),
             "depends_on_jobs": list(depends_on or []), "submitted": now_iso(),
             "host": socket.gethostname(), "launch_id": launch_id}
    entry.update(EXECUTORS.get(executor, "launch record").record(str(job_id)))
    write_json_atomic(run_dir / LAUNCH, {"submissions": [*submissions(run_dir), entry]})
    return entry
