"""Paired bootstrap confidence interval of an accuracy difference between two models.

Both models are evaluated on the same videos, so videos are resampled *together*: the interval
reflects how much the difference depends on which videos happen to be in the test set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.errors import DataError

PREDICTION_COLUMNS = ("index", "video", "label", "pred", "correct1", "correct5")


@dataclass(frozen=True)
class BootstrapResult:
    diff: float  # accuracy(a) - accuracy(b), percentage points
    low: float
    high: float
    n_videos: int
    resamples: int
    confidence: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0

    def describe(self) -> str:
        text = (f"{self.diff:+.2f} points, {self.confidence:.0%} CI [{self.low:+.2f}, {self.high:+.2f}] "
                f"over {self.n_videos} videos")
        return text + ("" if self.significant else f": not significant (the {self.confidence:.0%} CI contains 0)")


def paired_bootstrap(correct_a, correct_b, *, resamples: int = 10000, confidence: float = 0.95,
                     seed: int = 0) -> BootstrapResult:
    """Percentile CI of mean(correct_a) - mean(correct_b) in points; inputs are per-video 0/1 (or seed means)."""
    a = np.asarray(correct_a, dtype=float)
    b = np.asarray(correct_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"need two equal-length non-empty vectors, got shapes {a.shape} and {b.shape}")
    d = (a - b) * 100.0
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // d.size)  # bounded memory for large test sets
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, d.size, size=(stop - start, d.size))
        means[start:stop] = d[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return BootstrapResult(float(d.mean()), float(low), float(high), int(d.size), resamples, confidence)


def read_predictions(path: str | Path) -> pd.DataFrame:
    """A run's ``predictions.csv`` (index,video,label,pred,correct1,correct5)."""
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for a bad file
        raise DataError(f"{path}: cannot read predictions ({exc})") from exc
    missing = [c for c in PREDICTION_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (expected {','.join(PREDICTION_COLUMNS)})")
    return table


def paired_correctness(runs_a: list[str | Path], runs_b: list[str | Path]) -> tuple[np.ndarray, np.ndarray]:
    """Per-video top-1 correctness of two models on their common videos (seeds averaged per video).

    Videos are matched by their ``index`` (position in the list file); videos only one model saw are
    left out, so both vectors describe the same test set.
    """
    def per_video(runs):
        tables = [read_predictions(Path(r) / "predictions.csv") for r in runs]
        return pd.concat(tables).groupby("index")["correct1"].mean()

    a, b = per_video(runs_a), per_video(runs_b)
    common = a.index.intersection(b.index)
    if common.empty:
        raise DataError("the two models' predictions share no video index")
    return a.loc[common].to_numpy(float), b.loc[common].to_numpy(float)
