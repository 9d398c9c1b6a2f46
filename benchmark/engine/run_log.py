"""Log lines of a run into its directory, and the optional progress bar on a terminal."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

from benchmark.engine import rundir

log = logging.getLogger("benchmark.engine")


@contextlib.contextmanager
def run_logging(run_dir: Path, enabled: bool):
    """Plain log lines to ``log.txt`` (rank 0) in addition to the CLI's stderr handler."""
    if not enabled:
        yield
        return
    handler = logging.FileHandler(run_dir / rundir.LOG)
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


def progress_bar(total: int, desc: str, enabled: bool):
    if enabled and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)
    return None
