"""The local executor: runs on this machine through submitit's LocalExecutor, launch waits.

This process schedules the plan itself: a run starts once its upstreams are done, at most
``parallel`` at a time; a run whose upstream failed is not started (``blocked``). A local job is
its process: its PID plus the process start time, so a reused PID is never taken for the run
(nor signalled by cancel).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time

from benchmark.engine.claim import release
from benchmark.engine.liveness import process_alive, process_start
from benchmark.launch.executor import (
    ENDED,
    RUNNING,
    Executor,
    JobView,
    LaunchOptions,
    LaunchPlan,
    error_line_of,
    register_executor,
    shorten,
)
from benchmark.launch.job import RunJob
from benchmark.launch.ownership import claim_before_start, ended_elsewhere
from benchmark.launch.record import add_submission

log = logging.getLogger(__name__)


def _alive(sub: dict) -> bool | None:
    """Whether the submission's process runs (same PID, same start time); None: not on this host."""
    try:
        pid = int(sub["job_id"])
    except (TypeError, ValueError):
        return None
    return process_alive(sub.get("host"), pid, sub.get("proc_start"))


def failure_reason(error: BaseException) -> str:
    """One line for a job that failed: its error line, or what is known when it left none (a job
    killed by a signal only leaves submitit's own log lines)."""
    text = str(error)
    line = error_line_of(text.splitlines())
    if line:
        return line
    if "killed" in text.lower() or "signal" in text.lower() or "Loading pickle" in text:
        return "the job's process ended without a result (killed by a signal?); relaunch to resume"
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    return shorten(lines[-1]) if lines else type(error).__name__


@register_executor("local")
class LocalExecutor(Executor):
    waits = True

    def record(self, job_id: str) -> dict:
        # the PID is the job id; its start time tells a reused PID apart
        return {"proc_start": process_start(int(job_id)) if job_id.isdigit() else None}

    def observe(self, submissions: dict[str, dict]) -> dict[str, JobView]:
        out = {}
        for run_id, sub in submissions.items():
            alive = _alive(sub)
            if alive is not None:
                out[run_id] = JobView(RUNNING, "RUNNING") if alive else JobView(ENDED, "EXITED")
        return out

    def cancel(self, submissions: list[dict]) -> None:
        for sub in submissions:
            if _alive(sub):
                try:  # the engine checkpoints on SIGTERM, so a relaunch resumes the run
                    os.kill(int(sub["job_id"]), signal.SIGTERM)
                except (ProcessLookupError, ValueError):
                    pass

    def submit(self, plan: LaunchPlan, options: LaunchOptions, report) -> None:
        _Scheduler(self, plan, max(1, options.parallel), report, options.on_event).run()


class _Scheduler:
    """Start runs whose upstreams are done, at most ``parallel`` at a time, until none is left.

    Each run is claimed right before it starts (not at planning: another launch may have taken it
    since); one owned elsewhere is left to its owner, and its dependents here wait until it is
    done there (or not run, if it ends there without a result)."""

    def __init__(self, executor: LocalExecutor, plan: LaunchPlan, parallel: int, report, on_event):
        self.executor, self.plan, self.parallel = executor, plan, parallel
        self.report, self.on_event = report, on_event
        self.threads = max(1, (os.cpu_count() or 1) // parallel)
        self.done = {rid for rid, v in plan.views.items() if v.state == "done"}
        self.bad: set[str] = set()
        self.queue = list(plan.runs)
        self.running: dict[str, tuple[object, str]] = {}  # run id -> (submitit job, claim token)
        self.waiting, self.next_poll = False, 0.0  # upstreams going elsewhere; when to look again

    def run(self) -> None:
        try:
            while self.queue or self.running:
                self._start_ready()
                self._reap()
                idle = self.queue and not self.running and not any(
                    all(up in self.done for up in r.depends_on) for r in self.queue)
                # Upstreams run elsewhere: looked at every 2 s (it may ask a scheduler), and afresh
                # before giving up on them.
                if time.monotonic() >= self.next_poll or (idle and not self.waiting):
                    self.waiting, self.next_poll = self._upstreams_elsewhere(), time.monotonic() + 2.0
                if idle and not self.waiting and not any(
                    all(up in self.done for up in r.depends_on) for r in self.queue
                ):
                    # Waiting on upstream runs nobody runs: nothing to start here.
                    self.report.blocked.extend(r.run_id for r in self.queue)
                    return
                time.sleep(0.3)
        finally:
            for run_id, (_, token) in self.running.items():  # interrupted: the jobs keep their own claims
                release(self.plan.views[run_id].run.run_dir, token)

    def _upstreams_elsewhere(self) -> bool:
        """Poll the upstreams run by others: done there -> done here; ended there without a
        result -> failed here. True while some are still going."""
        mine = {r.run_id for r in self.queue} | set(self.running)
        ups = {up for r in self.queue for up in r.depends_on} - mine - self.done - self.bad
        going = False
        for up in sorted(ups):
            state = ended_elsewhere(self.plan.views[up].run)
            if state == "done":
                self.done.add(up)
            elif state == "active":
                going = True
            elif up in self.report.owned:  # it was owned elsewhere and ended without a result
                self.bad.add(up)
        return going

    def _start_ready(self) -> None:
        for run in list(self.queue):
            if any(up in self.bad for up in run.depends_on):
                self.queue.remove(run)
                self.bad.add(run.run_id)
                self.report.blocked.append(run.run_id)
                log.warning("%s: not run, an upstream run failed", run.run_id)
                self.on_event("blocked", run.run_id, None)
            elif len(self.running) < self.parallel and all(up in self.done for up in run.depends_on):
                self.queue.remove(run)
                self._start(run)

    def _start(self, run) -> None:
        import submitit

        claim = claim_before_start(run, self.plan, self.report)
        if claim is None:
            if run.run_id in self.report.owned:
                log.info("%s: left to its owner, %s", run.run_id, self.report.owned[run.run_id])
                self.on_event("owned", run.run_id, self.report.owned[run.run_id])
            else:
                self.done.add(run.run_id)
            return
        try:
            ex = submitit.LocalExecutor(folder=self.plan.folder / "%j")
            ex.update_parameters(timeout_min=60 * 24 * 30)
            job = ex.submit(RunJob(run.run_id, run.config, run.run_dir, self.threads, grant=claim["token"]))
        except BaseException:
            release(run.run_dir, claim["token"])
            raise
        job_id = str(job.job_id)
        # The PID is known only once the process exists: if its record cannot be written, the job
        # is stopped at once (it is still importing), so no job runs untracked.
        try:
            add_submission(run.run_dir, job_id=job_id, executor=self.executor.name, folder=self.plan.folder / job_id,
                           launch_id=self.plan.launch_id)
        except BaseException:
            self.executor.cancel([{"job_id": job_id, "host": socket.gethostname(), "proc_start": None}])
            raise
        self.report.submitted.append(run.run_id)
        self.report.job_ids[run.run_id] = job_id
        self.running[run.run_id] = (job, claim["token"])
        log.info("started %s (pid %s)", run.run_id, job_id)
        self.on_event("started", run.run_id, None)

    def _reap(self) -> None:
        for run_id, (job, token) in list(self.running.items()):
            if not job.done():
                continue
            del self.running[run_id]
            # Released by the job itself, unless it died before taking the claim over.
            release(self.plan.views[run_id].run.run_dir, token)
            error = job.exception()
            if error is None:
                self.done.add(run_id)
                log.info("finished %s", run_id)
                self.on_event("done", run_id, None)
            else:
                self.bad.add(run_id)
                self.report.failed[run_id] = failure_reason(error)
                log.error("%s failed: %s", run_id, self.report.failed[run_id])
                self.on_event("failed", run_id, self.report.failed[run_id])
