"""Log lines of a run into its directory, and the hook for a progress bar (drawn by the CLI)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmark.engine import run_layout

log = logging.getLogger("benchmark.engine")


@contextlib.contextmanager
def run_logging(run_dir: Path, enabled: bool):
    """Plain log lines to ``log.txt`` (rank 0) in addition to the CLI's stderr handler."""
    if not enabled:
        yield
        return
    handler = logging.FileHandler(run_dir / run_layout.LOG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log.addHandler(handler)
    previous = log.level
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(previous)
        handler.close()


# The engine draws no progress bar itself (the library prints nothing): the CLI installs a factory
# ``(total, desc) -> object with update(n) and close()`` when it runs on a terminal.
_progress_factory: Callable[[int, str], Any] | None = None


def set_progress_factory(factory: Callable[[int, str], Any] | None) -> None:
    global _progress_factory
    _progress_factory = factory


def progress_bar(total: int, desc: str, enabled: bool):
    """A bar from the installed factory, or None (no factory, or not this process's job to show one)."""
    return _progress_factory(total, desc) if enabled and _progress_factory is not None else None
