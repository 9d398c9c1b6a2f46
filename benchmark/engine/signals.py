"""Pre-emption handling: SLURM sends SIGTERM (or ``--signal=USR1@N``) before killing a job.

The handler only sets a flag. Training checks it before every step, validation and the final
evaluation before every batch (an evaluation can take minutes: SLURM kills the job KillWait
seconds after the signal). The run then checkpoints what is finished (the position inside the
epoch, or the trained epoch whose validation was cut short) and stops with :class:`RunPreempted`,
which the CLI turns into exit code :data:`EXIT_REQUEUE` so the launcher can tell "requeue me" from
success and failure.
"""

from __future__ import annotations

import signal
import threading

#: sysexits.h EX_TEMPFAIL: "temporary failure, the user is invited to retry".
EXIT_REQUEUE = 75

# SIGINT too: a Ctrl-C on `stbench train` or on a local `stbench launch` (whose runs share the
# terminal's process group) checkpoints like a pre-emption instead of losing the epoch.
DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)


class RunPreempted(Exception):  # noqa: N818 - it is a control-flow signal, not an error
    """Training stopped on a pre-emption signal after writing a checkpoint; resume to continue."""

    exit_code = EXIT_REQUEUE


class EvaluationStopped(Exception):  # noqa: N818 - control flow, like RunPreempted
    """An evaluation was cut short by a pre-emption signal (on some process); nothing was measured."""


class PreemptionFlag:
    """Context manager installing flag-setting handlers, restoring the previous ones on exit."""

    def __init__(self, signals=DEFAULT_SIGNALS):
        self.signals = tuple(signals)
        self.received: int | None = None
        self._previous: dict = {}

    def _handler(self, signum, frame):
        self.received = signum

    @property
    def set(self) -> bool:
        return self.received is not None

    def __enter__(self):
        # Signal handlers can only be installed from the main thread (e.g. not in a submitit
        # worker thread); there the launcher's own mechanism handles pre-emption.
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
        return False
