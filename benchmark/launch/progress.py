"""How far a grid has got: runs per state, epochs done of planned, and an ETA from measured epoch times.

The ETA is an estimate of the remaining *training* epochs at the pace measured so far: each run's
remaining epochs × its own mean epoch time (a run not started yet takes the mean of the runs with
the same model, else of all measured runs), divided by the number of runs training at once (at
least one). Final evaluations are not counted.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from benchmark.engine.metrics_jsonl import read_metrics
from benchmark.engine.run_layout import DONE, RUNNING
from benchmark.launch.observe import RunView


@dataclass
class GridProgress:
    runs: int
    states: dict[str, int] = field(default_factory=dict)
    epochs_done: int = 0
    epochs_total: int = 0
    active: int = 0  # runs queued or running (a job or a live claim): what can still change by itself
    eta_s: float | None = None  # None: nothing measured yet (or nothing left)

    @property
    def fraction(self) -> float:
        return self.epochs_done / self.epochs_total if self.epochs_total else 1.0

    @property
    def finished(self) -> bool:
        """No run is queued or running: nothing will change by itself."""
        return self.active == 0


def _epoch_seconds(view: RunView) -> list[float]:
    return [m["epoch_time_s"] for m in read_metrics(view.run.run_dir)
            if isinstance(m.get("epoch_time_s"), (int, float)) and m["epoch_time_s"] > 0]


def grid_progress(views: dict[str, RunView]) -> GridProgress:
    progress = GridProgress(runs=len(views))
    measured: dict[str, list[float]] = {}
    left: list[tuple[str, str, int]] = []  # (run id, model, epochs left)
    for v in views.values():
        progress.states[v.state] = progress.states.get(v.state, 0) + 1
        progress.active += bool(v.active)
        planned = int(v.run.config.get("epochs") or 0)
        done = planned if v.state == DONE else min(int(v.epoch or 0), planned)
        progress.epochs_total += planned
        progress.epochs_done += done
        seconds = _epoch_seconds(v) if v.epoch else []
        if seconds:
            measured[v.run_id] = seconds
        if v.active and planned > done:
            left.append((v.run_id, v.run.config.get("model", ""), planned - done))
    progress.eta_s = _eta(views, measured, left)
    return progress


def _eta(views: dict[str, RunView], measured: dict[str, list[float]], left: list[tuple[str, str, int]]) -> float | None:
    if not left or not measured:
        return None
    per_run = {run_id: statistics.mean(s) for run_id, s in measured.items()}
    by_model: dict[str, list[float]] = {}
    for run_id, mean in per_run.items():
        by_model.setdefault(views[run_id].run.config.get("model", ""), []).append(mean)
    overall = statistics.mean(per_run.values())
    total = 0.0
    for run_id, model, epochs in left:
        pace = per_run.get(run_id) or (statistics.mean(by_model[model]) if model in by_model else overall)
        total += epochs * pace
    at_once = max(1, sum(1 for v in views.values() if v.state == RUNNING))
    return total / at_once
