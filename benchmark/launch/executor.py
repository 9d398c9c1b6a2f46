"""Executors: where a run's job runs (this machine, SLURM, a plugin's), behind one interface.

An executor is one class in one file (built in: ``benchmark/launch/executors/``; or a module named
in ``STBENCH_PLUGINS``), registered with :func:`register_executor`. ``launch``, ``status`` and
``cancel`` only talk to this interface, so nothing else in stbench knows executor names:

- ``submit``: start or queue the jobs of a :class:`LaunchPlan`, each run claimed right before
  (:func:`benchmark.launch.ownership.claim_before_start`; the claim's token goes to the job as its
  ``grant``), and record each submission in its run directory
  (:func:`benchmark.launch.record.add_submission`) before the job can start;
- ``observe``: the state of the jobs of submission records, as :class:`JobView` (also what
  ``claim_alive`` asks about the job a claim names);
- ``cancel``: stop the jobs of submission records;
- ``record`` / ``describe``: what a submission record holds besides the job id, and how status
  shows its job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.errors import ConfigError
from benchmark.plugins import Registry

if TYPE_CHECKING:
    from benchmark.grid.spec import PlannedRun

# What an executor says about a job, whatever its scheduler calls it.
QUEUED, RUNNING, UNKNOWN = "queued", "running", "unknown"  # may still run: never submit it again
CANCELLED = "cancelled"
PREEMPTED = "preempted"  # stopped by the scheduler (pre-emption, time limit): resumable if checkpointed
FAILED = "failed"  # the job itself failed (exit code, out of memory, node failure)
COMPLETED = "completed"  # ended normally
ENDED = "ended"  # gone, no word on how (e.g. its process is no longer there)
JOB_STATES = (QUEUED, RUNNING, UNKNOWN, CANCELLED, PREEMPTED, FAILED, COMPLETED, ENDED)
ACTIVE_JOB_STATES = (QUEUED, RUNNING, UNKNOWN)


@dataclass
class JobView:
    """One job as its executor sees it. ``native`` is the scheduler's own word (e.g. SLURM's
    ``OUT_OF_MEMORY``), shown in a failure's reason; ``reason`` why a queued job waits."""

    state: str  # one of JOB_STATES
    native: str = ""
    elapsed_s: float | None = None
    reason: str | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_JOB_STATES


@dataclass
class LaunchReport:
    """What one launch did; the executor fills ``submitted``, ``job_ids`` (and, when it waits for
    the runs, ``failed`` and ``blocked``)."""

    submitted: list[str] = field(default_factory=list)  # run ids submitted by this launch
    skipped_done: list[str] = field(default_factory=list)
    skipped_active: list[str] = field(default_factory=list)
    job_ids: dict[str, str] = field(default_factory=dict)  # run id -> job id
    failed: dict[str, str] = field(default_factory=dict)  # run id -> error (executors that wait)
    blocked: list[str] = field(default_factory=list)  # upstream failed, not run (executors that wait)
    owned: dict[str, str] = field(default_factory=dict)  # run id -> who owns it (another launch or job)
    # run id -> the unfinished run outside the experiment it starts from (init_from), or its upstream
    waiting: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    waited: bool = False  # the executor waited for the runs to end (failed/blocked are final)
    launch_id: str = ""  # this launch's id, as the claims of its runs name it

    def summary(self) -> str:
        text = (f"submitted {len(self.submitted)}, skipped {len(self.skipped_done)} done and "
                f"{len(self.skipped_active)} queued/running ({self.seconds:.1f} s"
                + (f"; launch {self.launch_id})" if self.launch_id else ")"))
        if self.failed or self.blocked:
            text += f"; {len(self.failed)} failed, {len(self.blocked)} not run (upstream failed)"
        if self.owned:
            text += f"; {len(self.owned)} left to their owners (other launches or jobs)"
        if self.waiting:
            text += f"; {len(self.waiting)} not submitted: they start from runs outside this experiment that are not done"
        return text


@dataclass
class LaunchOptions:
    """How the user asked to launch; each executor uses what applies to it."""

    profile: Any = None  # a cluster profile name, path or ClusterProfile (SLURM)
    parallel: int = 1  # runs at the same time (local)
    hold: bool = False  # submit held (SLURM)
    on_event: Callable[[str, str, str | None], None] = field(default=lambda *a: None)


@dataclass
class LaunchPlan:
    """What one launch submits: ``runs`` in dependency order; ``views`` of every run of the
    experiment (upstreams outside ``runs`` still count); ``folder`` for the jobs' logs."""

    runs: list[PlannedRun]
    views: dict[str, Any]  # run id -> benchmark.launch.observe.RunView
    folder: Path
    name: str  # the experiment's name (job names)
    launch_id: str = ""  # this launch, as its claims name it (benchmark.engine.claim)


class Executor:
    """Base class: subclass it, implement ``submit``/``observe``/``cancel``, decorate with
    :func:`register_executor`. One instance per name serves every launch and status call."""

    name = ""  # set by register_executor
    waits = False  # launch returns once the runs have ended (True) or once they are queued
    holds = False  # can submit held jobs (LaunchOptions.hold)

    def prepare(self, options: LaunchOptions) -> LaunchOptions:
        """Refuse what this executor cannot do, before anything is cancelled or submitted; may
        resolve options (e.g. load the cluster profile)."""
        if options.hold and not self.holds:
            holders = " or ".join(n for n, e in EXECUTORS.items() if e.holds) or "none"
            raise ConfigError(f"--hold only applies to --executor {holders}")
        return options

    def submit(self, plan: LaunchPlan, options: LaunchOptions, report: LaunchReport) -> None:
        raise NotImplementedError

    def observe(self, submissions: dict[str, dict]) -> dict[str, JobView]:
        """``{run id: JobView}`` for ``{run id: last submission record}``; a job it cannot find is absent."""
        raise NotImplementedError

    def cancel(self, submissions: list[dict]) -> None:
        raise NotImplementedError

    def claim_alive(self, claim: dict) -> bool | None:
        """Whether the job a run's claim names (``claim["job_id"]``) may still run: True, False
        (gone), None (cannot tell: the claim is then left alone). By default from ``observe``."""
        sub = {"job_id": claim["job_id"], "host": claim.get("host"), "submitted": claim.get("time"),
               "executor": self.name}
        view = self.observe({"claim": sub}).get("claim")
        if view is None or view.state == UNKNOWN:
            return None
        return view.active

    def record(self, job_id: str) -> dict:
        """Fields of the submission record besides the common ones (job id, folder, host, ...)."""
        return {}

    def describe(self, submission: dict) -> str:
        """The job as status shows it (the ``job id`` column)."""
        return str(submission["job_id"])

    def error_line(self, submission: dict) -> str | None:
        """The last error line of the job's log (when the engine wrote no reason); submitit's
        ``<job>_<task>_log.err`` files in the submission's folder by default."""
        if not submission.get("folder"):
            return None
        folder, job = Path(submission["folder"]), submission["job_id"]
        for path in sorted(folder.glob(f"{job}_*_log.err")) + sorted(folder.glob(f"*{job}*.err")):
            try:
                lines = [x.strip() for x in path.read_text(errors="replace").splitlines() if x.strip()]
            except OSError:
                continue
            line = error_line_of(lines)
            if line:
                return line
        return None


def shorten(line: str, limit: int = 300) -> str:
    """At most ``limit`` characters, keeping the start (where errors name their file) and the end."""
    return line if len(line) <= limit else f"{line[:limit - 100]} … {line[-97:]}"


def error_line_of(lines: list[str]) -> str | None:
    """The last line that reports an error (not a traceback frame, not submitit's own log chatter)."""
    for line in reversed([x.strip() for x in lines if x.strip()]):
        if line.startswith(("Traceback", "File ", "submitit ")):
            continue
        if "Error" in line or "Exception" in line or "error:" in line:
            return shorten(line)
    return None


EXECUTORS: Registry[Executor] = Registry("executor", ("benchmark.launch.executors",), ConfigError)


def register_executor(name: str):
    """Class decorator: ``@register_executor("mine") class Mine(Executor): ...``."""

    def decorator(cls: type[Executor]) -> type[Executor]:
        if not (isinstance(cls, type) and issubclass(cls, Executor)):
            raise TypeError(f"executor {name!r}: {cls!r} is not an Executor subclass")
        cls.name = name
        EXECUTORS.add(name, cls())
        return cls

    return decorator
