"""Spatial contribution Φ and temporal improvement Ψ (paper 002, §6.3, Eq. 1–2).

For a model of architecture ``a`` on backbone ``b`` with ``k`` frames, against TSN without temporal
pooling at the same dataset, backbone and frames (accuracies in %):

    Φ = S_TSN / max(S_a, S_TSN)          Ψ = (S_a - S_TSN) / (100 - S_TSN)

Φ̄ and Ψ̄ are plain means over the (backbone, frames) cells (Eq. 2); Ψ̄^ta averages the models
without temporal pooling, Ψ̄^{ta+tp} those with it (still against TSN *without* pooling), and Φ̄
the models without pooling (the printed Table 7 matches that reading). A cell whose model or
baseline did not finish is listed in ``missing``, never silently dropped. Seeds of one model are
averaged before the formula is applied.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd

from benchmark.analysis.collect import done_runs
from benchmark.analysis.reference import REFERENCE_DIR

BASELINE = "TSN"
KEYS = ["dataset", "module", "backbone", "tp", "frames"]
METRIC_NAMES = {"phi": "Φ̄", "psi_ta": "Ψ̄^ta", "psi_ta_tp": "Ψ̄^{ta+tp}"}


def phi(s_model: float, s_tsn: float) -> float:
    return s_tsn / max(s_model, s_tsn)


def psi(s_model: float, s_tsn: float) -> float:
    """Undefined (NaN) when TSN is already perfect: with no headroom (100 − S_TSN = 0) there is no
    improvement to measure, and Eq. 1 would divide by zero (±inf)."""
    headroom = 100.0 - s_tsn
    return float("nan") if headroom <= 0 else (s_model - s_tsn) / headroom


def model_metrics(table: pd.DataFrame) -> pd.DataFrame:
    """Φ and Ψ of every finished model (seeds averaged); NaN where the TSN baseline is missing."""
    done = done_runs(table)
    acc = (done.assign(tp=done["tp"].astype(bool))
           .groupby(KEYS, dropna=False)["top1"].agg(top1="mean", seeds="size").reset_index())
    base = acc[(acc["module"] == BASELINE) & ~acc["tp"]][["dataset", "backbone", "frames", "top1"]]
    out = acc.merge(base.rename(columns={"top1": "tsn_top1"}), on=["dataset", "backbone", "frames"], how="left")
    s, t = out["top1"].to_numpy(float), out["tsn_top1"].to_numpy(float)
    headroom = 100.0 - t
    with np.errstate(invalid="ignore", divide="ignore"):
        out["phi"] = t / np.maximum(s, t)
        out["psi"] = np.where(headroom > 0, (s - t) / headroom, np.nan)  # undefined without headroom (psi())
    return out


def _expected_cells(table: pd.DataFrame) -> pd.DataFrame:
    """The grid the source aims at: per dataset, every backbone x frames x tp it mentions (any state)."""
    t = table.dropna(subset=["dataset", "backbone", "frames"])
    return t.assign(tp=t["tp"].fillna(False).astype(bool))[["dataset", "backbone", "frames", "tp"]].drop_duplicates()


def _state_of(table: pd.DataFrame, dataset, module, backbone, frames, tp) -> str:
    rows = table[(table["dataset"] == dataset) & (table["module"] == module) & (table["backbone"] == backbone)
                 & (table["frames"] == frames) & (table["tp"].fillna(False).astype(bool) == tp)]
    if rows.empty:
        return "no run"
    states = sorted(set(rows["state"].dropna()))
    return "/".join(states) + (" without accuracy" if states == ["done"] else "")


def _psi_undefined(table: pd.DataFrame, dataset, backbone, frames) -> str | None:
    """Why Ψ against this cell's TSN is undefined (headroom within the noise), from its per-video
    predictions; None when defined or when there are no predictions to tell (published tables)."""
    from benchmark.analysis.phi_psi_intervals import headroom_within_noise

    if "run_dir" not in table.columns:
        return None
    base = table[(table["module"] == BASELINE) & (table["dataset"] == dataset) & (table["backbone"] == backbone)
                 & (table["frames"] == frames) & ~table["tp"].fillna(False).astype(bool) & (table["state"] == "done")]
    return headroom_within_noise(list(base["run_dir"]))


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Φ̄, Ψ̄^ta, Ψ̄^{ta+tp} per dataset and module, with the cell counts and the missing cells.

    Columns: dataset, module, phi, psi_ta, psi_ta_tp, n (cells in Φ̄/Ψ̄^ta), n_tp (cells in
    Ψ̄^{ta+tp}), missing (list of "model: why"). TSN itself appears with Φ̄ = 1, Ψ̄^ta = 0 and
    Ψ̄^{ta+tp} = the effect of adding temporal pooling to TSN, which Eq. 1 also defines.
    For an experiment source (``table.attrs["planned"]``) the expected cells are its planned runs;
    otherwise every backbone x frames x tp the source mentions, for every module.
    """
    per_model = model_metrics(table)
    expected = _expected_cells(table)
    # one TSN cell serves every module and tp of its (dataset, backbone, frames): its predictions read once
    psi_undefined = functools.cache(lambda dataset, backbone, frames: _psi_undefined(table, dataset, backbone, frames))
    rows = []
    for (dataset, module), _ in table.dropna(subset=["dataset", "module"]).groupby(["dataset", "module"]):
        cells = expected[expected["dataset"] == dataset]
        mine = table[(table["dataset"] == dataset) & (table["module"] == module)]
        if table.attrs.get("planned"):  # an experiment: only its planned cells (it may exclude some on purpose)
            planned = mine.dropna(subset=["backbone", "frames"])
            planned = planned.assign(tp=planned["tp"].fillna(False).astype(bool))[["backbone", "frames", "tp"]]
            cells = cells.merge(planned.drop_duplicates(), on=["backbone", "frames", "tp"])
        if mine["backbone"].isna().all():  # a complete architecture (no backbone) fills no backbone cell
            cells = cells.iloc[0:0]
        have = per_model[(per_model["dataset"] == dataset) & (per_model["module"] == module)]
        record = {"dataset": dataset, "module": module}
        missing = []
        for tp, key in ((False, "psi_ta"), (True, "psi_ta_tp")):
            wanted = cells[cells["tp"] == tp]
            values = []
            for cell in wanted.itertuples():
                name = f"{module}-{cell.backbone}{'-tp' if tp else ''}-f{cell.frames}"
                hit = have[(have["backbone"] == cell.backbone) & (have["frames"] == cell.frames) & (have["tp"] == tp)]
                if hit.empty:
                    missing.append(f"{name}: {_state_of(table, dataset, module, cell.backbone, cell.frames, tp)}")
                elif np.isnan(hit["tsn_top1"].iloc[0]):
                    missing.append(f"{name}: no finished TSN-{cell.backbone}-f{cell.frames} baseline")
                else:
                    why = psi_undefined(dataset, cell.backbone, cell.frames)
                    if why:  # Φ is still measured; Ψ of this cell is not
                        missing.append(f"{name}: Ψ undefined: {why}")
                        hit = hit.assign(psi=np.nan)
                    values.append(hit.iloc[0])
            # architectures without a backbone (e.g. VoV3D) have no TSN baseline at all
            for extra in have[have["backbone"].isna() & (have["tp"] == tp)].itertuples():
                missing.append(f"{module}{'-tp' if tp else ''}-f{extra.frames}: no backbone, so no TSN baseline")
            psis = [v["psi"] for v in values if not np.isnan(v["psi"])]
            record[key] = float(np.mean(psis)) if psis else None
            if tp:
                record["n_tp"] = len(values)
            else:
                record["phi"] = float(np.mean([v["phi"] for v in values])) if values else None
                record["n"] = len(values)
        record["missing"] = missing
        rows.append(record)
    cols = ["dataset", "module", "phi", "psi_ta", "psi_ta_tp", "n", "n_tp", "missing"]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["dataset", "module"], key=lambda c: c.map(_module_order) if c.name == "module" else c,
                           ignore_index=True)


def _module_order(module: str) -> tuple:
    order = ["TSN", "TSM", "TAM", "I3D", "S3D"]
    return (order.index(module) if module in order else len(order), module)


def load_printed_table7() -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / "paper_table7.csv")


def compare_with_table7(summary: pd.DataFrame, printed: pd.DataFrame | None = None) -> pd.DataFrame:
    """Cell-by-cell comparison with the paper's printed Table 7 (two decimals).

    A cell matches when the computed value rounds to the printed one (|diff| <= 0.005). For a cell
    that does not, ``likely_cause`` names the most plausible reason found in the numbers themselves.
    """
    printed = load_printed_table7() if printed is None else printed
    computed = summary.set_index(["dataset", "module"])
    rows = []
    for cell in printed.itertuples():
        value = computed[cell.metric].get((cell.dataset, cell.module)) if cell.metric in computed else None
        value = None if value is None or pd.isna(value) else float(value)
        match = value is not None and abs(value - cell.value) <= 0.005 + 1e-9
        rows.append({"dataset": cell.dataset, "metric": cell.metric, "module": cell.module,
                     "printed": cell.value, "computed": value, "matches": match})
    out = pd.DataFrame(rows)
    out["likely_cause"] = [_likely_cause(r, out) for r in out.itertuples()]
    return out


def _likely_cause(row, table: pd.DataFrame) -> str | None:
    if row.matches:
        return None
    if row.computed is None:
        return "not computable from this source (missing runs)"
    same_row = table[(table["dataset"] == row.dataset) & (table["metric"] == row.metric) & (table["module"] != row.module)]
    for other in same_row.itertuples():
        if other.computed is not None and abs(other.computed - row.printed) <= 0.005 + 1e-9 \
                and abs(row.computed - other.printed) <= 0.005 + 1e-9:
            return (f"{row.module} and {other.module} swapped in the printed row: computed {other.module} = "
                    f"{other.computed:.4f} rounds to the printed {row.module} value and vice versa")
    if abs(row.computed - row.printed) <= 0.015:
        return "off by one in the second decimal: rounding or a slightly different set of runs"
    return "different runs than the published grid (or a different averaging)"


def format_summary(summary: pd.DataFrame, fmt: str = "table") -> str:
    if fmt == "json":
        records = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
                   for r in summary.to_dict("records")]
        return json.dumps(records, indent=2, allow_nan=False)
    if fmt == "csv":
        flat = summary.assign(missing=summary["missing"].map(lambda m: "; ".join(m)))
        return flat.to_csv(index=False)
    if summary.empty and fmt == "table":
        return "no runs in this source"
    lines = [f"{'dataset':<20} {'module':<12} {'Φ̄':>7} {'Ψ̄^ta':>7} {'Ψ̄^ta+tp':>9} {'n':>3} {'n_tp':>4}"]
    for r in summary.itertuples():
        lines.append(f"{r.dataset:<20} {r.module:<12} {_fmt(r.phi):>7} {_fmt(r.psi_ta):>7} {_fmt(r.psi_ta_tp):>9} "
                     f"{r.n:>3} {r.n_tp:>4}")
    missing = [(r.dataset, m) for r in summary.itertuples() for m in r.missing]
    if missing:
        lines.append(f"\nmissing cells ({len(missing)}), not included in the averages:")
        lines += [f"  {d}: {m}" for d, m in missing]
    return "\n".join(lines)


def _fmt(value) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.3f}"
