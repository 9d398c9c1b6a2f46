"""Launch an experiment's runs through an executor (local, SLURM, a plugin's), idempotently.

What to submit is decided from the results store (:func:`benchmark.launch.observe.observe`):
done runs are skipped, queued or running ones are left alone, failed, cancelled, interrupted and
never-submitted ones are submitted, and so are the dependents of anything resubmitted. How and
where the jobs run is the executor's business (:mod:`benchmark.launch.executor`).

Several launches may run at once (shells, nodes): each claims a run right before starting it
(:mod:`benchmark.launch.ownership`), so a run is started by one of them only; the others report
who owns it (``report.owned``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

from benchmark.engine.claim import describe
from benchmark.engine.run_reader import read_run
from benchmark.grid.spec import Experiment, PlannedRun
from benchmark.launch.cluster_profile import ClusterProfile
from benchmark.launch.executor import EXECUTORS, LaunchOptions, LaunchPlan, LaunchReport
from benchmark.launch.observe import RunView, observe
from benchmark.launch.ownership import live_owner

__all__ = ["EXECUTORS", "LaunchReport", "launch", "plan_submissions"]


def plan_submissions(experiment: Experiment, runs: list[PlannedRun] | None = None):
    """``(to_submit, views, to_cancel)``: the runs to submit (among ``runs``, default all), in
    dependency order, and the jobs to cancel first (queued dependents of a run being resubmitted
    wait on a job that will never run). ``views`` covers every run of the experiment, so upstream
    runs outside ``runs`` still count as dependencies."""
    views = observe(experiment)
    selected = None if runs is None else {r.run_id for r in runs}
    to_submit: list[PlannedRun] = []
    chosen: set[str] = set()
    to_cancel: list[str] = []
    for run_id, view in views.items():
        if selected is not None and run_id not in selected:
            continue
        if view.state == "done":
            continue
        upstream_resubmitted = any(up in chosen for up in view.run.depends_on)
        if view.active and not upstream_resubmitted:
            continue
        if view.active and view.job_id:
            to_cancel.append(view.job_id)
        to_submit.append(view.run)
        chosen.add(run_id)
    return to_submit, views, to_cancel


def _outside_upstreams_missing(to_submit: list[PlannedRun]) -> dict[str, str]:
    """Runs that start from a run outside the experiment (``init_from`` without a planned
    dependency, e.g. fine-tuning from another experiment's run) that is not done, and the runs
    downstream of them: run id -> what it waits for. Submitting them would only fail."""
    waiting: dict[str, str] = {}
    for run in to_submit:  # dependency order: upstreams first
        init_from = run.config.get("init_from")
        if init_from and not run.depends_on and read_run(Path(init_from)).state != "done":
            waiting[run.run_id] = f"{init_from} (init_from, not done)"
        elif any(up in waiting for up in run.depends_on):
            waiting[run.run_id] = next(f"{up} (upstream, waiting)" for up in run.depends_on if up in waiting)
    return waiting


def launch(experiment: Experiment, *, executor: str = "local", profile: str | ClusterProfile | None = None,
           parallel: int = 1, hold: bool = False, only: Callable[[PlannedRun], bool] | None = None,
           on_event: Callable[[str, str, str | None], None] | None = None) -> LaunchReport:
    """Submit what the results store says is missing. ``executor`` is a registered name
    (``local``, ``slurm`` or a plugin's). ``only`` restricts the runs (their upstreams still count
    as dependencies). Local launches block until their runs end; SLURM ones return.

    ``on_event(event, run_id, detail)`` (local executor) is told ``started``, ``done``, ``failed``
    (detail: the error), ``blocked`` and ``owned`` (left to another launch or job; detail: who) as
    they happen, e.g. to drive a progress bar.
    """
    chosen = EXECUTORS.get(executor, "executor")
    t0 = time.time()
    runs = experiment.runs()
    if only is not None:
        runs = [r for r in runs if only(r)]
    to_submit, views, to_cancel = plan_submissions(experiment, runs)
    waiting = _outside_upstreams_missing(to_submit)
    to_submit = [r for r in to_submit if r.run_id not in waiting]
    submit_ids = {r.run_id for r in to_submit}
    mine = [views[r.run_id] for r in runs]
    report = LaunchReport(
        skipped_done=[v.run_id for v in mine if v.state == "done"],
        skipped_active=[v.run_id for v in mine if v.active and v.run_id not in submit_ids],
        waited=chosen.waits,
        waiting=waiting,
    )
    for run_id in report.skipped_active:
        owner = views[run_id].owner or live_owner(views[run_id].run.run_dir)[0]
        if owner is not None:
            report.owned[run_id] = owner if isinstance(owner, str) else describe(owner)
    options = chosen.prepare(LaunchOptions(profile=profile, parallel=parallel, hold=hold,
                                           on_event=on_event or (lambda *a: None)))
    _cancel_jobs([v for v in views.values() if v.job_id in to_cancel])
    plan = LaunchPlan(to_submit, views, experiment.output / ".submitit", experiment.name, uuid.uuid4().hex[:8])
    report.launch_id = plan.launch_id
    chosen.submit(plan, options, report)
    report.seconds = time.time() - t0
    return report


def _cancel_jobs(views: list[RunView]) -> None:
    """Cancel queued dependents of resubmitted runs (they wait on a job that will never run)."""
    by_executor: dict[str, list[dict]] = {}
    for v in views:
        if v.submission and v.executor in EXECUTORS:
            by_executor.setdefault(v.executor, []).append(v.submission)
    for name, subs in by_executor.items():
        EXECUTORS[name].cancel(subs)
