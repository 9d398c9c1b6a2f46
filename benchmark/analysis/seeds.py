"""Seed noise: a two-level bootstrap over seeds and test videos, each cell's seed spread, and how
many seeds a grid needs to detect a difference.

Paper 002 trains each configuration once; a half-point gap between two modules may be the seed.
With several seeds per cell the interval of a comparison resamples the seeds of each side, then the
videos (shared by both sides: the same test set), so it covers both sources of noise.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.analysis.bootstrap import BootstrapResult, read_predictions
from benchmark.errors import DataError

CELL = ["dataset", "module", "backbone", "frames", "tp"]
Z_95, Z_POWER_80 = 1.959964, 0.841621


def seed_matrices(runs_a: list[str | Path], runs_b: list[str | Path]) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed, per-video top-1 correctness (seeds x videos) of both sides on their common videos."""
    def per_seed(runs):
        return [read_predictions(Path(r) / "predictions.csv").groupby("index")["correct1"].mean() for r in runs]

    a, b = per_seed(runs_a), per_seed(runs_b)
    common = a[0].index
    for series in a[1:] + b:
        common = common.intersection(series.index)
    if common.empty:
        raise DataError("the runs' predictions share no video index")
    return (np.stack([s.loc[common].to_numpy(float) for s in a]), np.stack([s.loc[common].to_numpy(float) for s in b]))


def two_level_bootstrap(a: np.ndarray, b: np.ndarray, *, resamples: int = 10000, confidence: float = 0.95,
                        seed: int = 0) -> BootstrapResult:
    """Percentile CI of the difference of mean accuracies (points) of ``a`` and ``b`` (seeds x videos):
    each resample draws each side's seeds with replacement, then the videos (once, for both sides)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or a.shape[1] == 0:
        raise ValueError(f"need two seeds x videos matrices over the same videos, got {a.shape} and {b.shape}")
    n = a.shape[1]
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, resamples, chunk):
        r = min(resamples, start + chunk) - start
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=r) / n  # resampled videos, as counts
        acc_a, acc_b = weights @ a.T, weights @ b.T  # (r, seeds): each seed's accuracy on them
        pick_a = rng.integers(0, a.shape[0], size=(r, a.shape[0]))
        pick_b = rng.integers(0, b.shape[0], size=(r, b.shape[0]))
        rows = np.arange(r)[:, None]
        diffs[start:start + r] = 100.0 * (acc_a[rows, pick_a].mean(1) - acc_b[rows, pick_b].mean(1))
    alpha = (1 - confidence) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    return BootstrapResult(float(100.0 * (a.mean() - b.mean())), float(low), float(high), n, resamples, confidence)


def seed_spread(done: pd.DataFrame) -> pd.DataFrame:
    """Each cell's top-1 over its seeds: count, mean, standard deviation, range (cells with >= 2 seeds)."""
    rows = []
    for key, group in done.assign(tp=done["tp"].astype(bool)).groupby(CELL, dropna=False):
        top1 = group["top1"].dropna()
        if len(top1) >= 2:
            rows.append({**dict(zip(CELL, key)), "seeds": len(top1), "mean": top1.mean(), "sd": top1.std(ddof=1),
                         "min": top1.min(), "max": top1.max()})
    return pd.DataFrame(rows, columns=CELL + ["seeds", "mean", "sd", "min", "max"])


def pooled_sd(spread: pd.DataFrame) -> float | None:
    """The seed standard deviation pooled over cells (weighted by their degrees of freedom)."""
    if spread.empty:
        return None
    dof = spread["seeds"] - 1
    return float(math.sqrt((dof * spread["sd"] ** 2).sum() / dof.sum()))


def seeds_needed(sd: float, detect: float) -> int:
    """Seeds per cell for a two-sided 5 % test with 80 % power to detect ``detect`` points between
    two cells whose seeds vary by ``sd`` points: n = 2 (z₀.₉₇₅ + z₀.₈)² sd² / detect²."""
    if detect <= 0:
        raise ValueError("the difference to detect must be positive")
    return max(2, math.ceil(2 * (Z_95 + Z_POWER_80) ** 2 * sd ** 2 / detect ** 2))
