"""The SLURM executor: job arrays through submitit, dependencies as SLURM dependencies; launch returns.

Runs without an unfinished upstream go as one job array (``array_parallelism`` at a time).
Dependent runs follow the progressive chains: when a whole wave of runs depends one-to-one on the
tasks of an array submitted now (the usual case: f16 on f8, f32 on f16, ...), it goes as one array
with ``aftercorr`` (task i waits for task i); otherwise each run is its own job with ``afterok``.
``kill-on-invalid-dep`` makes SLURM cancel the dependents of a failed run instead of leaving them
pending forever.

Each wave's runs are claimed right before it is submitted; a run another launch owns is left to it
(its dependents here wait on its SLURM job when its claim names one). Jobs are submitted held,
recorded in ``launch.json`` and in the claim (which then names the job, so it covers the time
until the job starts and takes it over), and only then released: no job runs untracked.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
from pathlib import Path

from benchmark.engine.claim import read_claim, release, update
from benchmark.errors import StbenchError
from benchmark.launch import scheduler
from benchmark.launch.cluster_profile import ClusterProfile, load_profile
from benchmark.launch.executor import (
    CANCELLED,
    COMPLETED,
    ENDED,
    FAILED,
    PREEMPTED,
    QUEUED,
    RUNNING,
    UNKNOWN,
    Executor,
    JobView,
    LaunchOptions,
    LaunchPlan,
    register_executor,
)
from benchmark.launch.job import RunJob
from benchmark.launch.ownership import claim_before_start
from benchmark.launch.record import add_submission

log = logging.getLogger(__name__)

_FAILED = ("FAILED", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE")


def job_view(state: str, elapsed_s: float | None = None, reason: str | None = None) -> JobView:
    """SLURM's job state in the executors' vocabulary."""
    if state in ("RUNNING", "COMPLETING"):
        mine = RUNNING
    elif state in scheduler.ACTIVE:
        mine = QUEUED
    elif state in ("PREEMPTED", "TIMEOUT"):
        mine = PREEMPTED
    else:
        mine = {"CANCELLED": CANCELLED, "COMPLETED": COMPLETED}.get(state, FAILED if state in _FAILED else ENDED)
    return JobView(mine, state, elapsed_s, reason if reason and reason != "None" else None)


def _recent(sub: dict, seconds: float) -> bool:
    try:
        submitted = _dt.datetime.fromisoformat(sub["submitted"])
    except (KeyError, TypeError, ValueError):
        return False
    return (_dt.datetime.now(_dt.timezone.utc) - submitted).total_seconds() < seconds


def sbatch_parameters(prof: ClusterProfile, name: str, hold: bool, dependency: str | None) -> dict:
    """submitit's SlurmExecutor parameters (what sbatch receives) for one submission."""
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
    return {k: v for k, v in params.items() if v is not None}


@register_executor("slurm")
class SlurmExecutor(Executor):
    holds = True

    def prepare(self, options: LaunchOptions) -> LaunchOptions:
        if not scheduler.available():
            raise StbenchError("SLURM is not available here (no sbatch, or 'scontrol ping' fails)")
        prof = options.profile
        prof = prof if isinstance(prof, ClusterProfile) else load_profile(prof or "local")
        scheduler.check_resources(prof)
        return dataclasses.replace(options, profile=prof)

    def observe(self, submissions: dict[str, dict]) -> dict[str, JobView]:
        if not scheduler.available():
            # Cannot ask SLURM from here: assume the job may still run rather than duplicate it.
            return {rid: JobView(UNKNOWN, "UNKNOWN", None, "SLURM is not reachable from here") for rid in submissions}
        jobs = scheduler.query([s["job_id"] for s in submissions.values()])
        out = {}
        for run_id, sub in submissions.items():
            info = jobs.get(sub["job_id"])
            if info is not None:
                out[run_id] = job_view(info.state, info.elapsed_s, info.reason)
            elif _recent(sub, 600):
                # Just submitted or just ended: the job may be in neither squeue nor sacct for a moment.
                out[run_id] = JobView(QUEUED, "PENDING", None, "not yet in the scheduler's records")
        return out

    def claim_alive(self, claim: dict) -> bool | None:
        """A job in neither squeue nor sacct (and not just submitted) is gone."""
        if not scheduler.available():
            return None
        view = self.observe({"claim": {"job_id": claim["job_id"], "submitted": claim.get("time")}}).get("claim")
        return False if view is None else view.active

    def cancel(self, submissions: list[dict]) -> None:
        scheduler.cancel([s["job_id"] for s in submissions])

    def submit(self, plan: LaunchPlan, options: LaunchOptions, report) -> None:
        _Waves(self.name, plan, options, report).submit()


class _Waves:
    """Submit in dependency order, each wave as arrays where the dependency structure allows."""

    def __init__(self, executor: str, plan: LaunchPlan, options: LaunchOptions, report):
        self.executor, self.plan, self.prof, self.hold, self.report = (
            executor, plan, options.profile, options.hold, report)
        submit_ids = {r.run_id for r in plan.runs}
        views = plan.views.values()
        others = [v for v in views if v.active and v.run_id not in submit_ids]
        self.job_of = {v.run_id: v.job_id for v in others if v.job_id and v.owner is None}
        self.array_of: dict[str, tuple[str, int, int]] = {}  # run id -> (array id, task index, array size)
        self.claims: dict[str, dict] = {}  # run id -> this launch's claim
        # owned by another launch or process that has no job here to depend on
        self.elsewhere = {v.run_id for v in others if v.run_id not in self.job_of}
        self.done = {v.run_id for v in views if v.state == "done"}  # and those finished meanwhile

    def _waits_on(self, run) -> bool:
        return all(up in self.job_of or up in self.elsewhere or up in self.done
                   for up in run.depends_on)

    def submit(self) -> None:
        pending = list(self.plan.runs)
        while pending:
            ready = [r for r in pending if self._waits_on(r)]
            if not ready:
                self._refuse(pending)
            ready_ids = {r.run_id for r in ready}
            pending = [r for r in pending if r.run_id not in ready_ids]
            ready = self._claim(ready)
            free = [r for r in ready if not any(up in self.job_of for up in r.depends_on)]
            if free:
                self._submit_array(free, None)
            self._submit_dependent([r for r in ready if any(up in self.job_of for up in r.depends_on)])

    def _claim(self, runs) -> list:
        """The runs of a wave this launch claims; the others are left to their owners."""
        mine = []
        for run in runs:
            up = next((u for u in run.depends_on if u in self.elsewhere), None)
            if up is not None:
                self.elsewhere.add(run.run_id)
                who = self.report.owned.get(up) or self.plan.views[up].owner or "another launch"
                self.report.owned[run.run_id] = f"its upstream {up}'s owner ({who})"
                continue
            claim = claim_before_start(run, self.plan, self.report)
            if claim is not None:
                self.claims[run.run_id] = claim
                mine.append(run)
            elif run.run_id in self.report.owned:
                owner = self._owner_job(run)
                if owner:
                    self.job_of[run.run_id] = owner
                else:
                    self.elsewhere.add(run.run_id)
            else:  # done since planning
                self.done.add(run.run_id)
        return mine

    def _owner_job(self, run) -> str | None:
        claim = read_claim(run.run_dir) or {}
        return claim.get("job_id") if claim.get("executor") == self.executor else None

    def _refuse(self, pending) -> None:
        views, pending_ids = self.plan.views, {r.run_id for r in pending}
        stuck = [f"{r.run_id} (upstream {up}: {views[up].state})" for r in pending for up in r.depends_on
                 if up not in pending_ids and up not in self.job_of and up not in self.done]
        if stuck:
            raise StbenchError("runs whose upstream is neither done, queued nor being launched "
                               "(launch the upstream too, e.g. widen --runs): " + ", ".join(stuck))
        raise StbenchError("dependency cycle among runs: " + ", ".join(r.run_id for r in pending))

    def _submit_dependent(self, dependent) -> None:
        """One-to-one on an array submitted in this launch: one aftercorr array; else afterok jobs."""
        groups: dict[str, list] = {}
        singles = []
        for r in dependent:
            ups = [up for up in r.depends_on if up in self.job_of]
            if len(ups) == 1 and ups[0] in self.array_of:
                array_id, index, _ = self.array_of[ups[0]]
                groups.setdefault(array_id, []).append((index, r))
            else:
                singles.append(r)
        for array_id, members in groups.items():
            size = next(s for a, _, s in self.array_of.values() if a == array_id)
            members.sort(key=lambda m: m[0])
            if [i for i, _ in members] == list(range(size)):
                self._submit_array([r for _, r in members], f"aftercorr:{array_id}")
            else:
                singles.extend(r for _, r in members)
        for r in singles:
            self._submit_array([r], "afterok:" + ":".join(self.job_of[up] for up in r.depends_on if up in self.job_of))

    def _executor(self, name: str, dependency: str | None):
        import submitit

        folder: Path = self.plan.folder
        ex = submitit.SlurmExecutor(folder=folder / "%j", max_num_timeout=self.prof.max_requeues)
        # Always held: released once recorded (unless --hold), so no job runs untracked.
        ex.update_parameters(**sbatch_parameters(self.prof, name, True, dependency))
        return ex

    def _jobs(self, runs, dependency: str | None) -> list:
        ex = self._executor(self.plan.name if len(runs) > 1 else runs[0].run_id, dependency)
        threads = self.prof.cpus_per_task
        tasks = [RunJob(r.run_id, r.config, r.run_dir, threads, grant=self.claims[r.run_id]["token"]) for r in runs]
        try:
            if len(runs) == 1:
                return [ex.submit(tasks[0])]
            with ex.batch():
                return [ex.submit(task) for task in tasks]
        except Exception as exc:  # sbatch's refusal (e.g. memory above the node's) as one clear line
            for r in runs:
                release(r.run_dir, self.claims[r.run_id]["token"])
            raise StbenchError(f"sbatch refused the job(s) of {runs[0].run_id}...: {exc}") from exc

    def _record(self, runs, jobs, deps: list[str]) -> None:
        """launch.json and the claims name the held jobs; if that fails they are cancelled."""
        try:
            for run, job in zip(runs, jobs):
                job_id = str(job.job_id)
                add_submission(run.run_dir, job_id=job_id, executor=self.executor, folder=self.plan.folder / job_id,
                               depends_on=deps, profile=self.prof.name, launch_id=self.plan.launch_id)
                self.claims[run.run_id] = update(run.run_dir, self.claims[run.run_id], executor=self.executor,
                                                 job_id=job_id)
        except BaseException:
            scheduler.cancel([str(j.job_id) for j in jobs])
            for r in runs:
                release(r.run_dir, self.claims[r.run_id]["token"])
            raise

    def _submit_array(self, runs, dependency: str | None) -> None:
        jobs = self._jobs(runs, dependency)
        deps = dependency.split(":", 1)[1].split(":") if dependency else []
        self._record(runs, jobs, deps)
        if not self.hold:
            scheduler.release(sorted({str(j.job_id).split("_")[0] for j in jobs}))
        for index, (run, job) in enumerate(zip(runs, jobs)):
            job_id = str(job.job_id)
            self.job_of[run.run_id] = job_id
            if len(runs) > 1:
                self.array_of[run.run_id] = (job_id.split("_")[0], index, len(runs))
            self.report.submitted.append(run.run_id)
            self.report.job_ids[run.run_id] = job_id
        log.info("submitted %d run(s)%s%s", len(runs), f" ({dependency})" if dependency else "",
                 " held" if self.hold else "")
