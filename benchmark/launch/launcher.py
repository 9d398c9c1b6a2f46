"""Launch an experiment's runs through submitit, locally or on SLURM, idempotently.

What to submit is decided from the results store (:func:`benchmark.launch.observe.observe`):
done runs are skipped, queued or running ones are left alone, failed, cancelled, interrupted and
never-submitted ones are submitted, and so are the dependents of anything resubmitted.

SLURM: runs without an unfinished upstream go as one job array (``array_parallelism`` at a time).
Dependent runs follow the progressive chains: when a whole wave of runs depends one-to-one on the
tasks of an array submitted now (the usual case: f16 on f8, f32 on f16, ...), it goes as one array
with ``aftercorr`` (task i waits for task i); otherwise each run is its own job with ``afterok``.
``kill-on-invalid-dep`` makes SLURM cancel the dependents of a failed run instead of leaving them
pending forever. Local: this process schedules the same plan itself, with a concurrency limit.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.errors import ConfigError, StbenchError
from benchmark.grid.spec import Experiment, PlannedRun
from benchmark.launch import scheduler
from benchmark.launch.job import RunJob
from benchmark.launch.observe import observe
from benchmark.launch.cluster_profile import ClusterProfile, load_profile
from benchmark.launch.record import add_submission

log = logging.getLogger(__name__)

EXECUTORS = ("local", "slurm")


@dataclass
class LaunchReport:
    submitted: list[str] = field(default_factory=list)  # run ids submitted by this launch
    skipped_done: list[str] = field(default_factory=list)
    skipped_active: list[str] = field(default_factory=list)
    job_ids: dict[str, str] = field(default_factory=dict)  # run id -> job id
    failed: dict[str, str] = field(default_factory=dict)  # local executor: run id -> error
    blocked: list[str] = field(default_factory=list)  # local executor: upstream failed, not run
    seconds: float = 0.0

    def summary(self) -> str:
        text = (f"submitted {len(self.submitted)}, skipped {len(self.skipped_done)} done and "
                f"{len(self.skipped_active)} queued/running ({self.seconds:.1f} s)")
        if self.failed or self.blocked:
            text += f"; {len(self.failed)} failed, {len(self.blocked)} not run (upstream failed)"
        return text


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


def launch(experiment: Experiment, *, executor: str = "local", profile: str | ClusterProfile | None = None,
           parallel: int = 1, hold: bool = False, only: Callable[[PlannedRun], bool] | None = None,
           on_event: Callable[[str, str, str | None], None] | None = None) -> LaunchReport:
    """Submit what the results store says is missing. ``only`` restricts the runs (their upstreams
    still count as dependencies). Local launches block until their runs end; SLURM ones return.

    ``on_event(event, run_id, detail)`` (local executor) is told ``started``, ``done``, ``failed``
    (detail: the error) and ``blocked`` as they happen, e.g. to drive a progress bar.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"executor: invalid value {executor!r} (valid values: {', '.join(EXECUTORS)})")
    t0 = time.time()
    runs = experiment.runs()
    if only is not None:
        runs = [r for r in runs if only(r)]
    to_submit, views, to_cancel = plan_submissions(experiment, runs)
    submit_ids = {r.run_id for r in to_submit}
    mine = [views[r.run_id] for r in runs]
    report = LaunchReport(
        skipped_done=[v.run_id for v in mine if v.state == "done"],
        skipped_active=[v.run_id for v in mine if v.active and v.run_id not in submit_ids],
    )
    folder = experiment.output / ".submitit"
    if executor == "slurm":
        if not scheduler.available():
            raise StbenchError("SLURM is not available here (no sbatch, or 'scontrol ping' fails)")
        prof = profile if isinstance(profile, ClusterProfile) else load_profile(profile or "local")
        scheduler.check_resources(prof)
        if to_cancel:
            scheduler.cancel(to_cancel)
        _submit_slurm(to_submit, views, prof, folder, hold, report, experiment.name)
    else:
        if hold:
            raise ConfigError("--hold only applies to --executor slurm")
        _run_local(to_submit, views, folder, max(1, parallel), report, on_event or (lambda *a: None))
    report.seconds = time.time() - t0
    return report


# -- SLURM ---------------------------------------------------------------------------------------

def _slurm_executor(folder: Path, prof: ClusterProfile, name: str, hold: bool, dependency: str | None):
    import submitit

    ex = submitit.SlurmExecutor(folder=folder / "%j", max_num_timeout=prof.max_requeues)
    params = dict(
        job_name=f"stbench:{name}", partition=prof.partition, nodes=prof.nodes,
        ntasks_per_node=prof.tasks_per_node, cpus_per_task=prof.cpus_per_task, time=prof.time_min,
        mem=prof.mem, account=prof.account, qos=prof.qos, constraint=prof.constraint,
        setup=list(prof.setup), array_parallelism=prof.array_parallelism,
        signal_delay_s=prof.signal_delay_s,
    )
    if prof.gpus_per_node:
        params["gpus_per_node"] = prof.gpus_per_node
    extra = {"signal": f"USR1@{prof.signal_delay_s}", "requeue": True, **prof.sbatch}
    if dependency:
        extra["dependency"] = dependency
        extra["kill-on-invalid-dep"] = "yes"
    if hold:
        extra["hold"] = True
    params["additional_parameters"] = extra
    ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    return ex


def _job(run: PlannedRun, threads: int | None = None) -> RunJob:
    return RunJob(run.run_id, run.config, run.run_dir, threads)


def _submit_slurm(to_submit, views, prof, folder, hold, report, name) -> None:
    """Waves in dependency order; each wave as arrays where the dependency structure allows."""
    submit_ids = {r.run_id for r in to_submit}
    job_of = {v.run_id: v.job_id for v in views.values() if v.active and v.run_id not in submit_ids}
    array_of: dict[str, tuple[str, int, int]] = {}  # run id -> (array id, task index, array size)
    pending = list(to_submit)
    while pending:
        ready = [r for r in pending if all(up in job_of or views[up].state == "done"
                                           for up in r.depends_on)]
        if not ready:
            pending_ids = {r.run_id for r in pending}
            stuck = [f"{r.run_id} (upstream {up}: {views[up].state})" for r in pending for up in r.depends_on
                     if up not in pending_ids and up not in job_of and views[up].state != "done"]
            if stuck:
                raise StbenchError("runs whose upstream is neither done, queued nor being launched "
                                   "(launch the upstream too, e.g. widen --runs): " + ", ".join(stuck))
            raise StbenchError("dependency cycle among runs: " + ", ".join(r.run_id for r in pending))
        ready_ids = {r.run_id for r in ready}
        pending = [r for r in pending if r.run_id not in ready_ids]
        free = [r for r in ready if not any(up in job_of for up in r.depends_on)]
        dependent = [r for r in ready if any(up in job_of for up in r.depends_on)]
        if free:
            _submit_array(free, None, prof, folder, hold, name, job_of, array_of, report)
        # One-to-one on an array submitted in this launch: one aftercorr array.
        groups: dict[str, list[tuple[int, PlannedRun]]] = {}
        singles = []
        for r in dependent:
            ups = [up for up in r.depends_on if up in job_of]
            if len(ups) == 1 and ups[0] in array_of:
                array_id, index, _ = array_of[ups[0]]
                groups.setdefault(array_id, []).append((index, r))
            else:
                singles.append(r)
        for array_id, members in groups.items():
            size = next(s for a, _, s in array_of.values() if a == array_id)
            members.sort(key=lambda m: m[0])
            if [i for i, _ in members] == list(range(size)):
                _submit_array([r for _, r in members], f"aftercorr:{array_id}", prof, folder, hold, name,
                              job_of, array_of, report)
            else:
                singles.extend(r for _, r in members)
        for r in singles:
            dep = "afterok:" + ":".join(job_of[up] for up in r.depends_on if up in job_of)
            _submit_array([r], dep, prof, folder, hold, name, job_of, array_of, report)


def _submit_array(runs, dependency, prof, folder, hold, name, job_of, array_of, report) -> None:
    ex = _slurm_executor(folder, prof, name if len(runs) > 1 else runs[0].run_id, hold, dependency)
    try:
        if len(runs) == 1:
            jobs = [ex.submit(_job(runs[0], prof.cpus_per_task))]
        else:
            with ex.batch():
                jobs = [ex.submit(_job(r, prof.cpus_per_task)) for r in runs]
    except Exception as exc:  # sbatch's refusal (e.g. memory above the node's) as one clear line
        raise StbenchError(f"sbatch refused the job(s) of {runs[0].run_id}...: {exc}") from exc
    for index, (run, job) in enumerate(zip(runs, jobs)):
        job_id = str(job.job_id)
        deps = dependency.split(":", 1)[1].split(":") if dependency else []
        add_submission(run.run_dir, job_id=job_id, executor="slurm", folder=folder / job_id,
                       depends_on=deps, profile=prof.name)
        job_of[run.run_id] = job_id
        if len(runs) > 1:
            array_of[run.run_id] = (job_id.split("_")[0], index, len(runs))
        report.submitted.append(run.run_id)
        report.job_ids[run.run_id] = job_id
    log.info("submitted %d run(s)%s%s", len(runs), f" ({dependency})" if dependency else "",
             " held" if hold else "")


# -- local ---------------------------------------------------------------------------------------

def _run_local(to_submit, views, folder, parallel, report, on_event) -> None:
    """Start runs whose upstreams are done, at most ``parallel`` at a time, until none is left."""
    import submitit

    threads = max(1, (os.cpu_count() or 1) // parallel)
    done = {rid for rid, v in views.items() if v.state == "done"}
    bad: set[str] = set()
    queue = list(to_submit)
    running: dict[str, tuple[PlannedRun, object]] = {}
    while queue or running:
        for run in list(queue):
            if any(up in bad for up in run.depends_on):
                queue.remove(run)
                bad.add(run.run_id)
                report.blocked.append(run.run_id)
                log.warning("%s: not run, an upstream run failed", run.run_id)
                on_event("blocked", run.run_id, None)
            elif len(running) < parallel and all(up in done for up in run.depends_on):
                ex = submitit.LocalExecutor(folder=folder / "%j")
                ex.update_parameters(timeout_min=60 * 24 * 30)
                job = ex.submit(_job(run, threads))
                add_submission(run.run_dir, job_id=str(job.job_id), executor="local",
                               folder=folder / str(job.job_id))
                report.submitted.append(run.run_id)
                report.job_ids[run.run_id] = str(job.job_id)
                running[run.run_id] = (run, job)
                queue.remove(run)
                log.info("started %s (pid %s)", run.run_id, job.job_id)
                on_event("started", run.run_id, None)
        for run_id, (_run, job) in list(running.items()):
            if not job.done():
                continue
            del running[run_id]
            error = job.exception()
            if error is None:
                done.add(run_id)
                log.info("finished %s", run_id)
                on_event("done", run_id, None)
            else:
                bad.add(run_id)
                report.failed[run_id] = _last_line(str(error))
                log.error("%s failed: %s", run_id, report.failed[run_id])
                on_event("failed", run_id, report.failed[run_id])
        if queue and not running and not any(
            all(up in done for up in r.depends_on) for r in queue
        ):
            # Waiting on upstream runs queued elsewhere (another launch): nothing to start here.
            for run in queue:
                report.blocked.append(run.run_id)
            return
        time.sleep(0.3)


def _last_line(text: str) -> str:
    lines = [x.strip() for x in text.strip().splitlines() if x.strip()]
    for line in reversed(lines):
        if "Error" in line or "Exception" in line:
            return line[-300:]
    return lines[-1][-300:] if lines else text
