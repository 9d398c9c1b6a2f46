"""Paper Fig. 8/9: accuracy vs the number of test clips, uniform (solid) and dense (dashed), and
accuracy vs GFLOPs x views, from each run's kept per-view logits (``benchmark.analysis.clip_count``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.analysis import figures
from benchmark.analysis.clip_count import HOW_TO_KEEP, clip_count_curves
from benchmark.analysis.report import ReportContext, register_section

LINE = {"uniform": "-", "dense": "--"}
MARK = {"uniform": "U", "dense": "D"}
KEYS = ["dataset", "model", "sampling", "crops", "n_clips"]
SHOWN_MISSING = 10


def model_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Seeds averaged: one row per (dataset, model, sampling, crops, n_clips)."""
    return curves.groupby(KEYS, sort=True).agg(
        top1=("top1", "mean"), top5=("top5", "mean"), views=("views", "first"), gflops=("gflops", "mean"),
        seeds=("top1", "size")).reset_index()


def plot_clip_count(curves: pd.DataFrame, path: Path) -> tuple[Path | None, str | None]:
    """Per dataset: top-1 vs clips (left) and vs GFLOPs x views (right); colour = model, U solid, D dashed."""
    plt = figures.plt
    datasets = sorted(curves["dataset"].astype(str).unique())
    models = sorted(curves["model"].astype(str).unique())
    palette = dict(zip(models, figures.sns.color_palette("colorblind", n_colors=max(len(models), 3))))
    fig, axes = plt.subplots(len(datasets), 2, figsize=(11, 4.2 * len(datasets)), squeeze=False)
    for (left, right), dataset in zip(axes, datasets):
        rows = curves[curves["dataset"].astype(str) == dataset]
        for (model, sampling, crops), line in rows.groupby(["model", "sampling", "crops"], sort=True):
            style = dict(color=palette[str(model)], linestyle=LINE.get(sampling, ":"), marker="o", markersize=3,
                         label=f"{model} ({MARK.get(sampling, sampling)}, {crops} crop{'s' * (crops > 1)})")
            left.plot(line["n_clips"], line["top1"], **style)
            if line["gflops"].notna().all():
                right.plot(line["gflops"], line["top1"], **style)
        left.set_xlabel("clips per video")
        right.set_xlabel("GFLOPs per video (one 224×224 clip's recorded cost × clips × crops)")
        for ax in (left, right):
            ax.set_title(dataset, fontsize=10)
            ax.set_ylabel("top-1 accuracy (%)")
            ax.grid(alpha=0.3)
        left.legend(fontsize=7)
    fig.tight_layout()
    return figures.save_figure(fig, path), None


def _wide(curves: pd.DataFrame) -> pd.DataFrame:
    wide = curves.pivot_table(index=["dataset", "model", "sampling", "crops"], columns="n_clips", values="top1")
    wide.columns = [f"top1@{n}" for n in wide.columns]
    return wide.reset_index()


@register_section("accuracy vs clips", order=64)
def section(report: ReportContext) -> None:
    report.page.heading("Accuracy vs number of clips (Fig. 8/9)")
    if report.printed:
        report.page.para("The paper draws Figures 8 and 9 without printing their values; nothing to show from "
                         "the paper itself. A report of your runs draws them from per-view logits.")
        return
    curves, missing = clip_count_curves(report.done)
    if curves.empty:
        report.page.para(f"Not drawn: none of the {len(report.done)} finished runs has per-view logits "
                         f"(views-c{{m}}x{{k}}.npz); {HOW_TO_KEEP}.")
        return
    per_model = model_curves(curves)
    report.page.para("Each point re-averages the kept views of one m-clip evaluation: for n clips, the n of the "
                     "m clips the n-clip test would take (uniform: exactly those; dense: the nearest starts), "
                     "crops and averaging as the run's test. GFLOPs: the run's recorded one-clip cost (224×224) "
                     "× clips × crops. Seeds averaged.")
    report.save_csv(curves, "clip_count_runs.csv")
    report.page.table(_wide(per_model), report.save_csv(per_model, "clip_count.csv"))
    report.add_figure("accuracy_vs_clips", plot_clip_count(per_model, report.figure_path("accuracy_vs_clips")),
                      "Top-1 vs clips per video (U solid, D dashed) and vs GFLOPs × views.")
    if missing:
        more = len(missing) - SHOWN_MISSING
        report.page.para(f"Runs without usable per-view logits ({HOW_TO_KEEP}):")
        report.page.bullets(missing[:SHOWN_MISSING] + ([f"... and {more} more"] if more > 0 else []))
