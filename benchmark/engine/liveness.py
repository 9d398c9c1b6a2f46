"""Whether a process is alive: the one answer claims, ``stbench repair`` and the local executor use.

A PID alone may be reused after its process ended, so a process is named by host, PID and start
time (``/proc/PID/stat``); only this host's processes can be asked about.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def process_start(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, /proc/PID/stat field 22), or None.

    With the PID it names one process: a PID alone may be reused after the process ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def process_alive(host: str | None, pid, start: str | None = None) -> bool | None:
    """True: process ``pid`` (of start time ``start``, if given) runs on ``host``, this host; False:
    provably gone; None: cannot tell (another host, or ``pid`` is no process id).

    A process of another user counts as alive (``kill`` is refused, not failed); one whose start
    time cannot be read any more is taken as alive too: a caller never takes over a live owner's work."""
    if host != socket.gethostname() or not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        pass
    return start is None or process_start(pid) in (None, start)
