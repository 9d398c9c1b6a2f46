"""``status`` and ``cancel``: the experiment's runs as a table, and stopping their jobs."""

from __future__ import annotations

from benchmark.grid.spec import Experiment
from benchmark.launch.executor import EXECUTORS, shorten
from benchmark.launch.observe import RunView, observe

COLUMNS = ("run", "state", "epoch", "best top-1", "job id", "elapsed", "reason")


def _elapsed(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _job(v: RunView) -> str:
    if v.submission is None:
        return v.job_id or "-"
    name = v.submission.get("executor")
    return EXECUTORS[name].describe(v.submission) if name in EXECUTORS else str(v.job_id)


def rows(views: dict[str, RunView]) -> list[tuple[str, ...]]:
    return [
        (v.run_id, v.state, str(v.epoch), "-" if v.best_top1 is None else f"{v.best_top1:.2f}",
         _job(v), _elapsed(v.elapsed_s), shorten((v.reason or "").replace("\n", " "), 160))
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
    """Cancel every queued or running job of the experiment, each by its executor; returns their run ids."""
    active = [v for v in observe(experiment).values() if v.active and v.submission]
    by_executor: dict[str, list[dict]] = {}
    for v in active:
        by_executor.setdefault(v.submission["executor"], []).append(v.submission)
    for name, subs in by_executor.items():
        if name in EXECUTORS:  # an unregistered one cannot be asked: its jobs are left alone
            EXECUTORS[name].cancel(subs)
    return [v.run_id for v in active if v.submission["executor"] in EXECUTORS]
