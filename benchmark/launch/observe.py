"""The state of every run of an experiment, from the run directories and the executors' view.

Run directories (docs/run-directory.md, read by :func:`benchmark.engine.run_reader.read_run`) plus
each run's launch record are the only inputs, so status, relaunch and cancel give the same answer
from any shell, after any crash. Each executor is asked once about all of its jobs.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.engine import claim as claims
from benchmark.engine import run_layout
from benchmark.engine.run_reader import RunFiles, best_top1, read_run
from benchmark.grid.spec import Experiment, PlannedRun
from benchmark.launch.executor import (
    CANCELLED,
    COMPLETED,
    EXECUTORS,
    FAILED,
    PREEMPTED,
    RUNNING,
    UNKNOWN,
    Executor,
    JobView,
)
from benchmark.launch.ownership import judge as judge_claim
from benchmark.launch.record import last_submission

#: What ``status`` shows (docs/run-directory.md): the files' states plus the job's view.
STATES = run_layout.RUN_STATES


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
    active: bool  # a job for this run is queued or running, or a live owner claims it: never submit it again
    submission: dict | None = None  # the last launch record entry
    owner: str | None = None  # who claims it when no known job runs it (benchmark.engine.claim.describe)

    @property
    def run_id(self) -> str:
        return self.run.run_id


def _executor(name: str | None) -> Executor | None:
    return EXECUTORS[name] if name in EXECUTORS else None


def _jobs(subs: dict[str, dict | None]) -> dict[str, JobView]:
    """Every submission's job, asking each executor once about all of its own."""
    by_executor: dict[str, dict[str, dict]] = {}
    for run_id, sub in subs.items():
        if sub:
            by_executor.setdefault(str(sub.get("executor")), {})[run_id] = sub
    jobs: dict[str, JobView] = {}
    for name, mine in by_executor.items():
        executor = _executor(name)
        if executor is None:  # e.g. a plugin not loaded in this shell: may still run, never duplicate
            why = f"executor {name!r} is not registered here (STBENCH_PLUGINS?)"
            jobs.update({rid: JobView(UNKNOWN, "UNKNOWN", None, why) for rid in mine})
        else:
            jobs.update(executor.observe(mine))
    return jobs


def _error_line(sub: dict | None) -> str | None:
    executor = _executor(sub.get("executor")) if sub else None
    return executor.error_line(sub) if executor else None


def _state(files: RunFiles, job: JobView | None, sub: dict | None) -> tuple[str, str | None]:
    """The run's state and reason from its files and its job (None: no job known)."""
    state, reason = files.state, files.reason
    if state == run_layout.DONE:
        return state, reason
    if job is not None and job.active:
        state = {RUNNING: run_layout.RUNNING, UNKNOWN: run_layout.UNKNOWN}.get(job.state, run_layout.PENDING)
        # Dependency, JobHeldUser, Resources, BeginTime (requeued), ...
        return state, (job.reason or reason) if state != run_layout.RUNNING else reason
    if job is not None and job.state == CANCELLED:
        return run_layout.CANCELLED, reason or "cancelled"
    if job is not None and job.state == PREEMPTED and state == run_layout.PENDING and (reason or "").startswith("preempted"):
        return run_layout.INTERRUPTED, reason  # the engine checkpointed on the signal: a relaunch resumes it
    if job is not None and job.state in (FAILED, PREEMPTED):
        return run_layout.FAILED, reason or _error_line(sub) or f"job {job.native.lower()}"
    if state in (run_layout.RUNNING, run_layout.PENDING) and sub is not None:
        # The job ended (or its process is gone) without a result: resumable from its checkpoint.
        if job is not None and job.state == COMPLETED and not reason:
            return run_layout.FAILED, _error_line(sub) or "job ended without a result"
        state = run_layout.INTERRUPTED if files.epoch or reason else run_layout.FAILED
        return state, reason or _error_line(sub) or "job ended without a result"
    return (run_layout.PLANNED if state == run_layout.PENDING else state), reason


def _claimed(run: PlannedRun, sub: dict | None, job: JobView | None) -> tuple[str, str, str] | None:
    """``(state, reason, owner)`` of a run no known job runs but a live owner claims (a launch about to
    start it, its job, a ``stbench train``); None when unclaimed or its owner is gone."""
    try:
        claim = claims.read_claim(run.run_dir)
    except claims.ClaimError as exc:  # e.g. no permission: may be owned, never start it twice
        return run_layout.UNKNOWN, str(exc), "an unreadable claim"
    if claim is None:
        return None

    def judge(c: dict) -> bool | None:
        if sub and (c.get("job_id"), c.get("executor")) == (sub.get("job_id"), sub.get("executor")):
            if job is not None:  # asked already
                return None if job.state == UNKNOWN else job.active
        return judge_claim(c)

    alive = claims.alive(claim, judge)
    who = claims.describe(claim)
    if alive is None:
        return run_layout.UNKNOWN, f"claimed by {who}; cannot tell whether it is alive (left alone)", who
    if not alive:
        return None
    if claim.get("holder") == "launch":
        return run_layout.PENDING, f"queued: claimed by {who}, not started yet", who
    return run_layout.RUNNING, f"running in {who}", who


def _blocked_by(run: PlannedRun, views: dict[str, RunView]) -> str | None:
    for up in run.depends_on:
        upstream = views.get(up)
        if upstream is not None and upstream.state in (run_layout.FAILED, run_layout.CANCELLED, run_layout.BLOCKED):
            return f"upstream {up} {upstream.state}"
    return None


def _view(run: PlannedRun, sub: dict | None, job: JobView | None, views: dict[str, RunView]) -> RunView:
    files = read_run(run.run_dir)
    state, reason = _state(files, job, sub)
    active = job is not None and job.active
    claimed = None if active or state == run_layout.DONE else _claimed(run, sub, job)
    owner = None
    if claimed is not None:
        (state, reason, owner), active = claimed, True
    if state in (run_layout.PLANNED, run_layout.CANCELLED):
        blocked = _blocked_by(run, views)
        if blocked:
            state, reason = run_layout.BLOCKED, blocked
    elapsed = job.elapsed_s if job is not None else None
    if elapsed is None and files.result is not None:
        elapsed = files.result.get("wall_time_s")
    return RunView(
        run=run, state=state, reason=reason, epoch=int(files.epoch or 0), best_top1=best_top1(run.run_dir, files),
        job_id=sub["job_id"] if sub else None, executor=sub.get("executor") if sub else None,
        elapsed_s=elapsed, active=active, submission=sub, owner=owner,
    )


def observe(experiment: Experiment, runs: list[PlannedRun] | None = None) -> dict[str, RunView]:
    """Every run's :class:`RunView`, keyed by run id, upstream runs before their dependents."""
    runs = experiment.runs() if runs is None else runs
    subs = {r.run_id: last_submission(r.run_dir) for r in runs}
    jobs = _jobs(subs)
    views: dict[str, RunView] = {}
    for run in runs:
        views[run.run_id] = _view(run, subs[run.run_id], jobs.get(run.run_id), views)
    return views
