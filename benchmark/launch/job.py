"""The callable that submitit runs for one planned run, locally or as a SLURM task.

It only calls ``benchmark.engine.train(config, run_dir, resume="auto")``: the run directory's
checkpoint, not this object, carries the progress, so a requeued or relaunched job simply resumes.
A task of a multi-task SLURM job becomes one DDP process (``engine.distributed.ddp_env_from_slurm``).

Pre-emption and time limits: SLURM sends SIGUSR1 ``signal_delay_s`` before the limit (the launcher
asks for ``--signal=USR1@...``); the engine checkpoints at the next step and raises
``RunPreempted``. If the scheduler still sees the job running (a time-limit warning, not a kill),
the job requeues itself; if SLURM is already requeueing or cancelling it (``scontrol requeue``,
``scancel``, pre-emption by SIGTERM), it just exits. Either way it exits without a submitit result,
so the job is not reported finished while it waits to resume.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)


class RunJob:
    """``grant``: the token of the launch's claim of the run; the job takes the claim over with it
    (and again after a requeue), trains, and releases it at the end."""

    def __init__(self, run_id: str, config: dict, run_dir: str | Path, threads: int | None = None,
                 grant: str | None = None):
        self.run_id = run_id
        self.config = config
        self.run_dir = str(run_dir)
        self.threads = threads
        self.grant = grant

    def __call__(self) -> dict:
        import torch

        from benchmark.engine import RunPreempted, train
        from benchmark.engine.claim import held
        from benchmark.engine.distributed import ddp_env_from_slurm

        if self.threads:
            torch.set_num_threads(self.threads)
        # One task per GPU: the DDP environment, and this task's GPU only, before CUDA starts.
        ddp_env_from_slurm(one_gpu_per_task=True)
        _log_to_stderr()
        # Rank 0 holds the claim for the whole job (train() finds it already held by this process).
        with held(self.run_dir, "job", active=int(os.environ.get("RANK", "0")) == 0, grant=self.grant,
                  job_id=_slurm_job_id()):
            try:
                return train(self.config, self.run_dir, resume="auto")
            except RunPreempted as exc:
                log.warning("%s: %s", self.run_id, exc)
                _requeue_if_still_running()
                sys.exit(-1)

    def checkpoint(self, *args, **kwargs):
        """submitit's own pre-emption hook: resubmit unchanged; the engine resumes from ``last.pt``."""
        import submitit

        return submitit.helpers.DelayedSubmission(
            RunJob(self.run_id, self.config, self.run_dir, self.threads, self.grant))

    def __repr__(self) -> str:
        return f"RunJob({self.run_id!r})"


def _log_to_stderr() -> None:
    """Every task's engine log lines (log.txt has rank 0's only) into its own stderr file, with its
    rank, so that what each DDP process did (joined, resumed, pre-empted) can be read per task."""
    logger = logging.getLogger("benchmark")
    if logger.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(f"%(asctime)s rank {os.environ.get('RANK', '0')} %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _slurm_job_id() -> str | None:
    """This job's id as the launch recorded it (``123``, or ``123_4`` for an array task); None
    outside SLURM (the claim then keeps what the launch wrote)."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")


def _requeue_if_still_running() -> None:
    job = os.environ.get("SLURM_JOB_ID")
    if not job or int(os.environ.get("SLURM_PROCID", "0")) != 0:
        return
    try:
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True,
                               timeout=30).stdout.strip()
        if state == "RUNNING":
            subprocess.run(["scontrol", "requeue", job], capture_output=True, timeout=30, check=True)
            log.warning("requeued job %s; it will resume from its checkpoint", job)
    except (OSError, subprocess.SubprocessError) as exc:
        log.error("could not requeue job %s: %s", job, exc)
