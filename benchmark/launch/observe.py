"""The state of every run of an experiment, from the run directories and the scheduler's view.

Run directories (docs/run-directory.md) plus each run's launch record are the only inputs, so
status, relaunch and cancel give the same answer from any shell, after any crash.
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from benchmark.engine.rundir import RESULT, read_json, read_metrics, run_state
from benchmark.grid.spec import Experiment, PlannedRun
from benchmark.launch import scheduler
from benchmark.launch.record import last_submission
from benchmark.launch.scheduler import JobInfo

#: What ``status`` shows. ``planned``: never submitted; ``blocked``: an upstream run failed;
#: ``interrupted``: its job ended mid-run (resumable); ``unknown``: submitted to a SLURM that this
#: shell cannot reach.
STATES = ("done", "running", "pending", "failed", "cancelled", "interrupted", "blocked", "planned",
          "unknown")

_FAILED_JOB_STATES = ("FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
                      "DEADLINE")


@dataclass
class RunView:
    run: PlannedRun
    state: str  # one of STATES
    reason: str | None
    epoch: int
    best_top1: float | None
    job_id: str | None
    executor: str | None
    elapsed_s: float | None
    active: bool  # a job for this run is queued or running: never submit it again

    @property
    def run_id(self) -> str:
        return self.run.run_id


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_start(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, /proc/PID/stat field 22), or None.

    Together with the PID it names one process: a PID alone may be reused by another process after
    the run's own has ended (or after a reboot)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _local_job(sub: dict) -> JobInfo | None:
    """A local job is its process: alive on this host (same PID, same start time) means running."""
    if sub.get("host") != socket.gethostname():
        return None
    try:
        pid = int(sub["job_id"])
    except (TypeError, ValueError):
        return None
    alive = _pid_alive(pid) and (sub.get("proc_start") is None or process_start(pid) == sub["proc_start"])
    return JobInfo(sub["job_id"], "RUNNING" if alive else "EXITED")


def _recent(sub: dict, seconds: float) -> bool:
    try:
        submitted = _dt.datetime.fromisoformat(sub["submitted"])
    except (KeyError, TypeError, ValueError):
        return False
    return (_dt.datetime.now(_dt.timezone.utc) - submitted).total_seconds() < seconds


def log_error(sub: dict | None) -> str | None:
    """The last error line of a submitit job's stderr log (when the engine wrote no reason)."""
    if not sub or not sub.get("folder"):
        return None
    folder = Path(sub["folder"])
    for path in sorted(folder.glob(f"{sub['job_id']}_*_log.err")) + sorted(folder.glob(f"*{sub['job_id']}*.err")):
        try:
            lines = [x.strip() for x in path.read_text(errors="replace").splitlines() if x.strip()]
        except OSError:
            continue
        for line in reversed(lines):
            if ("Error" in line or "Exception" in line) and not line.startswith(("Traceback", "File ")):
                return line[-300:]
    return None


def _best_top1(run_dir: Path) -> float | None:
    result = read_json(run_dir / RESULT)
    if isinstance(result, dict) and result.get("top1") is not None:
        return result["top1"]
    values = [m["best_top1"] for m in read_metrics(run_dir) if m.get("best_top1") is not None]
    return max(values) if values else None


def observe(experiment: Experiment, runs: list[PlannedRun] | None = None) -> dict[str, RunView]:
    """Every run's :class:`RunView`, keyed by run id, upstream runs before their dependents."""
    runs = experiment.runs() if runs is None else runs
    subs = {r.run_id: last_submission(r.run_dir) for r in runs}
    slurm_ids = [s["job_id"] for s in subs.values() if s and s.get("executor") == "slurm"]
    jobs: dict[str, JobInfo] = {}
    jobs_known = bool(slurm_ids) and scheduler.available()
    if jobs_known:
        jobs = scheduler.query(slurm_ids)
    views: dict[str, RunView] = {}
    for run in runs:
        sub = subs[run.run_id]
        job = None
        if sub:
            job = jobs.get(sub["job_id"]) if sub.get("executor") == "slurm" else _local_job(sub)
        if job is None and sub and sub.get("executor") == "slurm" and jobs_known and _recent(sub, 600):
            # Just submitted or just ended: the job may be in neither squeue nor sacct for a moment.
            job = JobInfo(sub["job_id"], "PENDING", None, "not yet in the scheduler's records")
        elif job is None and sub and sub.get("executor") == "slurm" and not jobs_known:
            # Cannot ask SLURM from here: assume the job may still run rather than duplicate it.
            job = JobInfo(sub["job_id"], "UNKNOWN_ACTIVE", None, "SLURM is not reachable from here")
        files = run_state(run.run_dir)
        state, reason = files["state"], files["reason"]
        active = job is not None and (job.active or job.state == "UNKNOWN_ACTIVE")
        if state == "done":
            pass
        elif active:
            state = {"RUNNING": "running", "COMPLETING": "running", "UNKNOWN_ACTIVE": "unknown"}.get(
                job.state, "pending")
            if state != "running" and job.reason and job.reason != "None":
                reason = job.reason  # Dependency, JobHeldUser, Resources, BeginTime (requeued), ...
        elif job is not None and job.state == "CANCELLED":
            state, reason = "cancelled", reason or "cancelled"
        elif (job is not None and job.state in ("PREEMPTED", "TIMEOUT") and state == "pending"
              and reason and reason.startswith("preempted")):
            state = "interrupted"  # the engine checkpointed on the signal: a relaunch resumes it
        elif job is not None and job.state in _FAILED_JOB_STATES:
            state = "failed"
            reason = reason or log_error(sub) or f"job {job.state.lower()}"
        elif state in ("running", "pending") and sub is not None:
            # The job ended (or its process is gone) without a result: resumable from its checkpoint.
            if job is not None and job.state == "COMPLETED" and not reason:
                state, reason = "failed", log_error(sub) or "job ended without a result"
            else:
                state = "interrupted" if files["epoch"] or reason else "failed"
                reason = reason or log_error(sub) or "job ended without a result"
        elif state == "pending":
            state = "planned"
        if state in ("planned", "cancelled"):
            for up in run.depends_on:
                upstream = views.get(up)
                if upstream is not None and upstream.state in ("failed", "cancelled", "blocked"):
                    state, reason = "blocked", f"upstream {up} {upstream.state}"
                    break
        elapsed = job.elapsed_s if job is not None and job.elapsed_s is not None else None
        if elapsed is None and state == "done":
            result = read_json(run.run_dir / RESULT) or {}
            elapsed = result.get("wall_time_s")
        views[run.run_id] = RunView(
            run=run, state=state, reason=reason, epoch=int(files.get("epoch") or 0),
            best_top1=_best_top1(run.run_dir), job_id=sub["job_id"] if sub else None,
            executor=sub.get("executor") if sub else None, elapsed_s=elapsed, active=active,
        )
    return views
