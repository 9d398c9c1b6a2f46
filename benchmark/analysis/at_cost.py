"""Accuracy at matched cost (issue 22, item 6; paper 002's point that FLOPs change which model wins):
each module's accuracy-vs-cost curve over its frame counts and backbones, interpolated in log cost,
read at the other module's costs; and the Pareto front per dataset.

Costs: ``macs`` (the results' convolution MACs per clip), or the measured ``latency`` (ms) and
``memory`` (peak MB) of ``stbench bench`` files, for the models they measured.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.errors import ConfigError, DataError

COSTS = {"macs": "macs_conv", "latency": "latency_ms", "memory": "peak_memory_mb"}


def cost_points(done: pd.DataFrame, cost: str, bench: pd.DataFrame | None = None) -> pd.DataFrame:
    """One point per (dataset, module, model): mean top-1 over seeds and its cost."""
    if cost not in COSTS:
        raise ConfigError(f"--at-cost: unknown cost {cost!r} (choices: {', '.join(COSTS)})")
    points = done.groupby(["dataset", "module", "model"], dropna=False).agg(
        top1=("top1", "mean"), macs_conv=("macs_conv", "mean")).reset_index()
    if cost != "macs":
        if bench is None or bench.empty:
            raise DataError(f"--at-cost {cost}: needs measured figures (--bench FILE from 'stbench bench --out')")
        points = points.merge(bench.groupby("model")[COSTS[cost]].mean().reset_index(), on="model", how="left")
    points = points.rename(columns={COSTS[cost]: "cost"}).dropna(subset=["cost", "top1"])
    return points[points["cost"] > 0][["dataset", "module", "model", "cost", "top1"]]


def _curve_at(points: pd.DataFrame, cost: float) -> float | None:
    """The module's top-1 at ``cost``: its best point at each cost, interpolated in log cost; None
    outside the costs it was run at."""
    curve = points.groupby("cost")["top1"].max().sort_index()
    x = np.log(curve.index.to_numpy(float))
    if not x[0] - 1e-9 <= np.log(cost) <= x[-1] + 1e-9:
        return None
    return float(np.interp(np.log(cost), x, curve.to_numpy(float)))


def matched_cost(done: pd.DataFrame, new: str, against: list[str], cost: str,
                 bench: pd.DataFrame | None = None) -> pd.DataFrame:
    """For each point of ``new``: the other modules' accuracy at the same cost, and the difference."""
    points = cost_points(done, cost, bench)
    rows = []
    for dataset, here in points.groupby("dataset"):
        mine = here[here["module"] == new].sort_values("cost")
        for other in against:
            theirs = here[here["module"] == other]
            for p in mine.itertuples():
                at = _curve_at(theirs, p.cost) if len(theirs) else None
                rows.append({"dataset": dataset, "model": p.model, "cost": p.cost, "top1": p.top1, "against": other,
                             "against_top1_at_cost": at, "diff": None if at is None else p.top1 - at,
                             "note": "" if at is not None else
                             (f"no {other} run" if theirs.empty else f"outside {other}'s cost range "
                              f"({theirs['cost'].min():.3g}..{theirs['cost'].max():.3g})")})
    return pd.DataFrame(rows, columns=["dataset", "model", "cost", "top1", "against", "against_top1_at_cost",
                                       "diff", "note"])


def pareto_front(points: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, the models no other model beats on both cost and top-1 (cheapest first)."""
    fronts = []
    for _, here in points.groupby("dataset"):
        ordered = here.sort_values(["cost", "top1"], ascending=[True, False])
        best, keep = -np.inf, []
        for p in ordered.itertuples():
            if p.top1 > best:
                keep.append(p.Index)
                best = p.top1
        fronts.append(here.loc[keep].sort_values("cost"))
    return pd.concat(fronts) if fronts else points.iloc[:0]
