"""Paper Fig. 5 and Table 3: clip-level vs video-level top-1 under uniform and dense sampling for
matched models (``benchmark.analysis.sampling_compare``), beside the printed Table 3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.analysis import figures
from benchmark.analysis.printed import load_printed
from benchmark.analysis.report import ReportContext, register_section
from benchmark.analysis.sampling_compare import sampling_runs, table3

COLOUR = {"uniform": "#0072B2", "dense": "#E69F00"}  # the paper's blue (U) and orange (D)
SHOWN_NOTES = 10


def plot_sampling(matched: pd.DataFrame, path: Path) -> tuple[Path | None, str | None]:
    """Per dataset, per model: U and D bars of clip-level top-1 (solid) and the video-level gain (light)."""
    plt = figures.plt
    datasets = sorted(matched["dataset"].astype(str).unique())
    fig, axes = plt.subplots(1, len(datasets), figsize=(max(5.0, 2.2 * matched["model"].nunique()) * len(datasets),
                                                         4.2), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        rows = matched[matched["dataset"].astype(str) == dataset]
        models = sorted(rows["model"].unique())
        for shift, sampling in ((-0.2, "uniform"), (0.2, "dense")):
            d = rows[rows["sampling"] == sampling].set_index("model").reindex(models)
            x = np.arange(len(models)) + shift
            clip = d["clip_top1"].astype(float).to_numpy()
            gain = (d["video_top1"].astype(float) - d["clip_top1"].astype(float)).fillna(0).to_numpy()
            ax.bar(x, clip, 0.4, color=COLOUR[sampling], label=f"{sampling[0].upper()}: clip level")
            ax.bar(x, gain, 0.4, bottom=clip, color=COLOUR[sampling], alpha=0.35,
                   label=f"{sampling[0].upper()}: + video level")
        ax.set_xticks(np.arange(len(models)), models, rotation=20, ha="right", fontsize=8)
        ax.set_title(dataset, fontsize=10)
        ax.set_ylabel("top-1 accuracy (%)")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return figures.save_figure(fig, path), None


@register_section("uniform vs dense sampling", order=62)
def section(report: ReportContext) -> None:
    report.page.heading("Uniform vs dense sampling (Fig. 5, Table 3)")
    if report.printed:
        report.page.para("The paper's values are in the printed Table 3 below (Figure 5 is drawn without values).")
        return
    matched, notes = sampling_runs(report.done)
    if matched.empty:
        report.page.para("No matched pair: no two finished runs share dataset, module, backbone, temporal "
                         "pooling and frames with one trained on uniform and one on dense sampling (the experiment "
                         "axis `axes: {sampling: [uniform, dense]}` makes such pairs).")
    else:
        report.page.para("clip = 1 clip, 1 centre crop (the best validation epoch); video = the final test with "
                         "the run's views (video_views, clips x crops); seeds averaged. paper_*: Table 3 as "
                         "printed (full Kinetics, video level), beside runs of a Kinetics dataset.")
        report.save_csv(matched, "sampling_runs.csv")
        wide = table3(matched, load_printed("table3"))
        report.page.table(wide, report.save_csv(wide, "table3_sampling.csv"))
        report.add_figure("sampling", plot_sampling(matched, report.figure_path("sampling")),
                          "Clip-level top-1 (solid) and the video-level gain (light), uniform (blue) vs dense "
                          "(orange).")
    if notes:
        more = len(notes) - SHOWN_NOTES
        report.page.para("Runs without a comparison:")
        report.page.bullets(notes[:SHOWN_NOTES] + ([f"... and {more} more"] if more > 0 else []))
