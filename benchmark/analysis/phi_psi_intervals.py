"""Φ and Ψ with their uncertainty (issue 22, item 7). Eq. 1 divides Ψ by the headroom TSN leaves
(100 − S_TSN): with TSN near 100 % a video or two decide Ψ's sign and size (the quickstart's
spatial set: TSN 99.2 %, one video wrong, gave I3D Ψ = −21). Each model's Φ and Ψ get a bootstrap
interval over the videos both it and its TSN baseline were tested on (paired; seeds averaged per
video), and Ψ is undefined, with the reason, when the headroom's interval reaches zero."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.analysis.bootstrap import paired_correctness
from benchmark.analysis.collect import done_runs
from benchmark.errors import DataError

BASELINE = "TSN"
COLUMNS = ["dataset", "model", "module", "backbone", "frames", "tp", "phi", "phi_low", "phi_high", "psi", "psi_low",
           "psi_high", "headroom", "headroom_low", "psi_undefined"]


def bootstrap_phi_psi(model: np.ndarray, tsn: np.ndarray, *, resamples: int = 2000, confidence: float = 0.95,
                      seed: int = 0) -> dict:
    """Φ, Ψ and the headroom (points) with percentile intervals, from per-video correctness (0..1)
    of a model and its TSN baseline on the same videos, resampled together."""
    m, t = np.asarray(model, float), np.asarray(tsn, float)
    n = m.size
    rng = np.random.default_rng(seed)
    s, b = np.empty(resamples), np.empty(resamples)
    chunk = max(1, 2_000_000 // n)  # bounded memory for large test sets
    for start in range(0, resamples, chunk):
        idx = rng.integers(0, n, size=(min(resamples, start + chunk) - start, n))
        s[start:start + len(idx)], b[start:start + len(idx)] = 100 * m[idx].mean(1), 100 * t[idx].mean(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        phis = np.where(np.maximum(s, b) > 0, b / np.maximum(s, b), np.nan)
        psis = np.where(100 - b > 0, (s - b) / (100 - b), np.nan)
    alpha = (1 - confidence) / 2
    s0, b0 = 100 * m.mean(), 100 * t.mean()
    headroom_low = float(np.quantile(100 - b, alpha))
    out = {"phi": b0 / max(s0, b0) if max(s0, b0) > 0 else np.nan, "headroom": 100 - b0, "headroom_low": headroom_low}
    out["phi_low"], out["phi_high"] = (float(x) for x in np.nanquantile(phis, [alpha, 1 - alpha]))
    if headroom_low <= 0:  # some resamples leave TSN nothing to improve on: Ψ is not measured
        out.update(psi=np.nan, psi_low=np.nan, psi_high=np.nan, psi_undefined=(
            f"TSN leaves {100 - b0:.1f} points of headroom ({confidence:.0%} interval reaches 0): Ψ divides by it"))
    else:
        out.update(psi=(s0 - b0) / (100 - b0), psi_undefined=None)
        out["psi_low"], out["psi_high"] = (float(x) for x in np.nanquantile(psis, [alpha, 1 - alpha]))
    return out


def headroom_within_noise(tsn_runs: list[str], alpha: float = 0.025) -> str | None:
    """Why Ψ against these TSN runs is undefined, or None: the bootstrap's headroom interval reaches
    zero exactly when a resample of the n videos misses all k that TSN got wrong with probability
    (1 − k/n)^n above ``alpha`` (k ≤ 3 for any n ≥ 100)."""
    have = [r for r in tsn_runs if isinstance(r, str) and (Path(r) / "predictions.csv").is_file()]
    if not have:
        return None
    from benchmark.analysis.bootstrap import read_predictions

    tables = []
    for run in have:
        try:
            tables.append(read_predictions(Path(run) / "predictions.csv"))
        except DataError:  # a damaged file: the report names it elsewhere; it decides nothing here
            continue
    if not tables:
        return None
    correct = pd.concat(tables).groupby("index")["correct1"].mean()
    n, wrong = len(correct), float((1 - correct).sum())
    if n == 0 or (1 - wrong / n) ** n <= alpha:
        return None
    return f"TSN leaves {100 * wrong / n:.1f} points of headroom ({wrong:g} of {n} videos wrong): Ψ divides by it"


def phi_psi_intervals(table: pd.DataFrame, *, resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per finished model with per-video predictions whose TSN baseline (same dataset,
    backbone, frames, no tp) has them too."""
    done = done_runs(table)
    if done.empty:
        return pd.DataFrame(columns=COLUMNS)
    done = done.assign(tp=done["tp"].astype(bool))
    rows = []
    for key, runs in done.groupby(["dataset", "model", "module", "backbone", "frames", "tp"], dropna=False):
        dataset, _, module, backbone, frames, tp = key
        base = done[(done["module"] == BASELINE) & ~done["tp"] & (done["dataset"] == dataset)
                    & (done["backbone"] == backbone) & (done["frames"] == frames)]
        mine, theirs = _with_predictions(runs), _with_predictions(base)
        if not mine or not theirs:
            continue
        try:
            m, t = paired_correctness(mine, theirs)
        except DataError:
            continue
        rows.append(dict(zip(COLUMNS, key)) | bootstrap_phi_psi(m, t, resamples=resamples, seed=seed))
    return pd.DataFrame(rows, columns=COLUMNS)


def _with_predictions(runs: pd.DataFrame) -> list[str]:
    return [d for d in runs["run_dir"] if isinstance(d, str) and (Path(d) / "predictions.csv").is_file()]
