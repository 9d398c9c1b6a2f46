"""``status`` and ``cancel``: the experiment's runs as a table, and stopping their jobs."""

from __future__ import annotations

import os
import signal

from benchmark.grid.spec import Experiment
from benchmark.launch import scheduler
from benchmark.launch.observe import RunView, observe

COLUMNS = ("run", "state", "epoch", "best top-1", "job id", "elapsed", "reason")


def _elapsed(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def rows(views: dict[str, RunView]) -> list[tuple[str, ...]]:
    return [
        (v.run_id, v.state, str(v.epoch), "-" if v.best_top1 is None else f"{v.best_top1:.2f}",
         v.job_id or "-", _elapsed(v.elapsed_s), (v.reason or "").replace("\n", " ")[:120])
        for v in views.values()
    ]


def format_table(views: dict[str, RunView]) -> str:
    table = [COLUMNS, *rows(views)]
    widths = [max(len(r[i]) for r in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
    counts: dict[str, int] = {}
    for v in views.values():
        counts[v.state] = counts.get(v.state, 0) + 1
    lines.append(f"{len(views)} runs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(lines)


def status(experiment: Experiment) -> dict[str, RunView]:
    return observe(experiment)


def cancel(experiment: Experiment) -> list[str]:
    """Cancel every queued or running job of the experiment; returns their run ids."""
    views = observe(experiment)
    active = [v for v in views.values() if v.active and v.job_id]
    scheduler.cancel([v.job_id for v in active if v.executor == "slurm"])
    for v in active:
        if v.executor == "local":
            try:
                # The engine checkpoints on SIGTERM, so a relaunch resumes the run.
                os.kill(int(v.job_id), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
    return [v.run_id for v in active]
