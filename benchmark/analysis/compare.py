"""Fair comparison of a new module against existing ones at matched dataset, backbone, frames and tp.

Only like-for-like cells are compared; where per-video predictions exist for both sides, a paired
bootstrap CI says whether the accuracy difference could be an accident of the test set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.analysis.audit import blocking, cell_identity, differences
from benchmark.analysis.bootstrap import paired_bootstrap, paired_correctness
from benchmark.analysis.collect import done_runs
from benchmark.analysis.phi_psi import model_metrics
from benchmark.analysis.seeds import seed_matrices, two_level_bootstrap
from benchmark.errors import DataError

CELL = ["dataset", "backbone", "frames", "tp"]


def _per_model(done: pd.DataFrame) -> pd.DataFrame:
    def macs(rows):
        conv = rows["macs_conv"].dropna()
        return float(conv.mean()) if len(conv) else (float(rows["macs_all"].dropna().mean())
                                                     if rows["macs_all"].notna().any() else np.nan)

    groups = done.assign(tp=done["tp"].astype(bool)).groupby(["module"] + CELL, dropna=False)
    return pd.DataFrame([
        {"module": key[0], **dict(zip(CELL, key[1:])), "top1": rows["top1"].mean(), "seeds": len(rows),
         "params": float(rows["params"].dropna().mean()) if rows["params"].notna().any() else np.nan,
         "macs": macs(rows), "run_dirs": [d for d in rows["run_dir"] if isinstance(d, str)],
         "identity": cell_identity(rows)}
        for key, rows in groups
    ])


def compare_modules(table: pd.DataFrame, new: str, against: list[str], *, resamples: int = 10000,
                    seed: int = 0, allow: set[str] | frozenset = frozenset()) -> pd.DataFrame:
    """One row per (matched cell, other module): accuracies, Φ/Ψ, cost ratios, the audit (which of
    data and protocol differ), bootstrap CI and a verdict, given only where the audit finds nothing
    that ``allow`` does not name."""
    done = done_runs(table)
    modules = sorted(set(done["module"].dropna()))
    if new not in modules:
        raise DataError(f"no finished runs of module {new!r} in this source (modules with results: {', '.join(modules) or 'none'})")
    absent = [m for m in against if m not in modules]
    if len(absent) == len(against):
        raise DataError(f"--against: no finished runs of {', '.join(absent)} in this source (modules: {', '.join(modules)})")
    against = [m for m in against if m not in absent]
    models = _per_model(done)
    pm = model_metrics(table).assign(tp=lambda d: d["tp"].astype(bool))
    models = models.merge(pm[["module"] + CELL + ["phi", "psi"]], on=["module"] + CELL, how="left")
    index = models.set_index(["module"] + CELL)
    rows = []
    for cell in models[models["module"] == new].itertuples():
        key = (cell.dataset, cell.backbone, cell.frames, cell.tp)
        for other in against:
            row = {"dataset": cell.dataset, "backbone": cell.backbone, "frames": cell.frames, "tp": cell.tp,
                   "module": new, "top1": cell.top1, "phi": cell.phi, "psi": cell.psi, "against": other}
            if (other, *key) not in index.index:
                rows.append({**row, "verdict": f"no finished {other} run at this setting"})
                continue
            o = index.loc[(other, *key)]
            row.update({"against_top1": o["top1"], "against_phi": o["phi"], "against_psi": o["psi"],
                        "diff": cell.top1 - o["top1"],
                        "params_ratio": cell.params / o["params"] if o["params"] else np.nan,
                        "macs_ratio": cell.macs / o["macs"] if o["macs"] else np.nan})
            differ = differences(cell.identity, o["identity"], cell.run_dirs, o["run_dirs"])
            blocked = blocking(differ, set(allow), cell.run_dirs, o["run_dirs"])
            row["audit"] = "; ".join(differ.values()) or "data and protocol match"
            if blocked:
                row["verdict"] = "no verdict: " + "; ".join(blocked.values()) + " (compare --allow DIM to compare anyway)"
            else:
                row.update(_significance(cell.run_dirs, o["run_dirs"], resamples, seed))
                if differ:
                    row["verdict"] += f" [compared across allowed differences: {', '.join(sorted(differ))}]"
            rows.append(row)
    columns = ["dataset", "backbone", "frames", "tp", "module", "against", "top1", "against_top1", "diff",
               "pred_diff", "ci_low", "ci_high", "n_videos", "phi", "against_phi", "psi", "against_psi", "params_ratio",
               "macs_ratio", "audit", "verdict"]
    out = pd.DataFrame(rows, columns=columns)
    out.attrs["absent"] = absent  # asked for but never finished in this source: said, not hidden
    return out


def _significance(runs_new: list[str], runs_other: list[str], resamples: int, seed: int) -> dict:
    from pathlib import Path

    have = [r for r in runs_new if (Path(r) / "predictions.csv").is_file()]
    have_other = [r for r in runs_other if (Path(r) / "predictions.csv").is_file()]
    if not have or not have_other:
        return {"verdict": "no per-video predictions: significance not tested"}
    if len(have) > 1 or len(have_other) > 1:  # several seeds: their noise is in the interval too
        a, b = seed_matrices(have, have_other)
        result = two_level_bootstrap(a, b, resamples=resamples, seed=seed)
        over = f"over {len(have)} vs {len(have_other)} seeds and their videos"
    else:
        a, b = paired_correctness(have, have_other)
        result = paired_bootstrap(a, b, resamples=resamples, seed=seed)
        over = "one seed each: videos resampled"
    # The test runs on the saved per-video predictions (the final evaluation: video level when the run
    # evaluated several views), which need not be the clip-level best-epoch top-1 shown beside it.
    where = f"per-video predictions of the final evaluation, {over}"
    if result.significant:
        verdict = f"significant: {'better' if result.diff > 0 else 'worse'} on the {where} ({result.describe()})"
    else:
        verdict = f"NOT significant on the {where} ({result.describe()})"
    return {"pred_diff": result.diff, "ci_low": result.low, "ci_high": result.high, "n_videos": result.n_videos,
            "verdict": verdict}


def format_comparison(comparison: pd.DataFrame) -> str:
    """A plain-text side-by-side; every row ends with its verdict."""
    lines = [f"{m}: no finished runs in this source, not compared" for m in comparison.attrs.get("absent", [])]
    if comparison.empty:
        return "\n".join(lines + ["no matched settings"])
    for r in comparison.itertuples():
        backbone = "(own backbone)" if pd.isna(r.backbone) else r.backbone
        setting = f"{r.dataset} {backbone} f{r.frames}{' tp' if r.tp else ''}"
        if pd.isna(r.against_top1):
            lines.append(f"{setting}: {r.module} {r.top1:.2f} vs {r.against}: {r.verdict}")
            continue
        ratios = ", ".join(f"{name} x{val:.2f}" for name, val in (("params", r.params_ratio), ("MACs", r.macs_ratio))
                           if not pd.isna(val))
        lines.append(
            f"{setting}: {r.module} {r.top1:.2f} vs {r.against} {r.against_top1:.2f} (clip-level top-1, Δ {r.diff:+.2f}); "
            f"audit: {r.audit}; "
            f"Φ {_f(r.phi)} vs {_f(r.against_phi)}, Ψ {_f(r.psi)} vs {_f(r.against_psi)}"
            + (f"; {ratios}" if ratios else "") + f"; {r.verdict}"
        )
    return "\n".join(lines)


def _f(v) -> str:
    return "-" if v is None or pd.isna(v) else f"{v:.3f}"
