"""``stbench quickstart``: the suite end to end on this machine's CPU in minutes.

The library (``benchmark.quickstart``) prepares, trains and analyses; this file shows the progress,
the results table and checks the paper's qualitative findings (the thresholds below are wording
choices of this summary, not part of any measurement).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.cli.progress import run_progress

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Finding:
    claim: str
    value: str
    holds: bool | None  # None: not measurable from these runs


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "quickstart",
        help="generate synthetic data, train a small grid on CPU, write the report (minutes)",
        description="Generate the synthetic temporal and spatial datasets, train TSN, TSN-tp, TAM, TSM and "
                    "I3D (ResNet18, 8 frames) on both with the local executor, then collect the results and "
                    "write the report (accuracy, Φ/Ψ, temporal-pooling gain, accuracy vs FLOPs). Re-running "
                    "reuses finished runs.",
    )
    p.add_argument("--out", default="results/quickstart", help="output folder (default results/quickstart)")
    p.add_argument("--fresh", action="store_true", help="delete previous quickstart data and runs first")
    p.add_argument("--experiment", default=None, help="experiment YAML or shipped name (default: quickstart)")
    p.add_argument("--parallel", type=int, default=2, help="runs trained at the same time (default 2)")
    p.add_argument("--train-clips", type=int, default=None, help="training clips per synthetic dataset (480)")
    p.add_argument("--val-clips", type=int, default=None, help="validation clips per synthetic dataset (120)")
    p.add_argument("--epochs", type=int, default=None, help="override the experiment's epochs")
    p.add_argument("--no-progress", action="store_true", help="plain lines instead of a progress bar")
    p.set_defaults(func=_quickstart)


def _quickstart(args) -> int:
    import logging

    from benchmark.quickstart import QuickstartData, analyse_quickstart, prepare_quickstart, train_quickstart

    if not args.verbose:  # the quickstart prints its own progress; per-run logs stay in each run's log.txt
        logging.getLogger("benchmark").setLevel(logging.WARNING)
    t0 = time.time()
    data = QuickstartData()
    if args.train_clips is not None:
        data.train_clips = args.train_clips
    if args.val_clips is not None:
        data.val_clips = args.val_clips
    print(f"[1/3] synthetic datasets ({data.train_clips} train + {data.val_clips} val clips each) "
          f"in {Path(args.out).resolve() / 'data'}")
    plan = prepare_quickstart(args.out, experiment=args.experiment, fresh=args.fresh, data=data,
                              epochs=args.epochs)
    print(f"[2/3] training {len(plan.runs)} runs from {plan.experiment.name} with the local executor "
          f"({args.parallel} at a time); finished runs are reused")
    report = train_quickstart(plan, parallel=args.parallel,
                              on_event=run_progress(plan.runs, plan.exp, not args.no_progress, print, "quickstart"))
    print(f"      {report.summary()}")
    result = analyse_quickstart(plan)
    print("[3/3] report\n")
    print(summary_text(result["table"], result["summary"], findings(result["summary"], result["table"])))
    print(f"\nReport: {plan.out / 'report' / 'index.html'}  (Markdown: {plan.out / 'report' / 'report.md'})")
    print(f"Results table: {result['results_csv']}   total time {time.time() - t0:.0f} s")
    failed = {**report.failed, **{r: "upstream failed" for r in report.blocked}}
    for run_id, why in failed.items():
        print(f"stbench quickstart: {run_id} failed: {why}")
    return 1 if failed else 0


def findings(summary: pd.DataFrame, table: pd.DataFrame) -> list[Finding]:
    """The paper's qualitative findings, checked on the synthetic datasets' results."""
    from benchmark.analysis.collect import done_runs

    done = done_runs(table)

    def top1(dataset: str, module: str, tp: bool) -> float | None:
        rows = done[(done["dataset"] == dataset) & (done["module"] == module) & (done["tp"].astype(bool) == tp)]
        return float(rows["top1"].mean()) if len(rows) else None

    def metric(dataset: str, module: str, key: str) -> float | None:
        rows = summary[(summary["dataset"] == dataset) & (summary["module"] == module)]
        value = rows[key].iloc[0] if len(rows) else None
        return None if value is None or value != value else float(value)  # NaN: not computed

    out: list[Finding] = []
    chance = 100.0 / 4  # both synthetic sets have 4 classes
    tsn = top1("synthetic-temporal", "TSN", False)
    out.append(Finding(f"TSN is near chance ({chance:.0f}%) on the temporal set",
                       "n/a" if tsn is None else f"top-1 {tsn:.1f}%", None if tsn is None else tsn <= chance + 15))
    for module in ("TAM", "I3D"):
        psi = metric("synthetic-temporal", module, "psi_ta")
        out.append(Finding(f"{module} models time: Ψ ≥ 0.3 on the temporal set",
                           "n/a" if psi is None else f"Ψ = {psi:.2f}", None if psi is None else psi >= 0.3))
    phis = summary[summary["dataset"] == "synthetic-spatial"]["phi"].dropna()
    phis = phis[summary.loc[phis.index, "module"] != "TSN"]
    low = float(phis.min()) if len(phis) else None
    out.append(Finding("appearance suffices on the spatial set: Φ ≥ 0.9 for every module",
                       "n/a" if low is None else f"lowest Φ = {low:.2f}", None if low is None else low >= 0.9))
    tsn_tp = top1("synthetic-temporal", "TSN", True)
    gain = None if tsn is None or tsn_tp is None else tsn_tp - tsn
    out.append(Finding("temporal pooling improves TSN on the temporal set",
                       "n/a" if gain is None else f"{tsn:.1f}% → {tsn_tp:.1f}% ({gain:+.1f})",
                       None if gain is None else gain > 0))
    return out


def summary_text(table: pd.DataFrame, summary: pd.DataFrame, found: list[Finding]) -> str:
    from benchmark.analysis.collect import done_runs

    done = done_runs(table)
    lines = []
    if len(done):
        acc = done.assign(model=[f"{m}{'-tp' if tp else ''}" for m, tp in zip(done["module"], done["tp"].astype(bool))])
        pivot = acc.pivot_table(index="model", columns="dataset", values="top1", aggfunc="mean", sort=False)
        lines += ["Top-1 accuracy (%), ResNet18, 8 frames:", pivot.round(1).to_string(), ""]
    if len(summary):
        cols = summary[["dataset", "module", "phi", "psi_ta", "psi_ta_tp"]].rename(
            columns={"phi": "Φ", "psi_ta": "Ψ^ta", "psi_ta_tp": "Ψ^{ta+tp}"})
        lines += ["Spatial (Φ) and temporal (Ψ) contributions (paper Eq. 1-2):",
                  cols.to_string(index=False, float_format=lambda v: f"{v:.2f}", na_rep="-")]
        undefined = sorted({(r.dataset, m.split("Ψ undefined: ", 1)[1]) for r in summary.itertuples()
                            for m in r.missing if "Ψ undefined: " in m})
        lines += [f"  Ψ undefined on {dataset}: {why}" for dataset, why in undefined] + [""]
    lines.append("The paper's findings on the synthetic data:")
    for f in found:
        mark = {True: "yes", False: "NO", None: "n/a"}[f.holds]
        lines.append(f"  [{mark:>3}] {f.claim}: {f.value}")
    return "\n".join(lines)
