"""Paper Figure 7 from runs: I3D upgraded step by step, beside the paper's values."""

from benchmark.analysis.paper_experiments import i3d_upgrades_table
from benchmark.analysis.report import ReportContext, register_section
from benchmark.analysis.sections._comparison import show_comparison


@register_section("figure 7 i3d upgrades", order=68)
def section(report: ReportContext) -> None:
    rows = i3d_upgrades_table(report.done)
    if not rows.empty:
        rows["video_gain"] = rows.groupby("dataset")["video_top1"].diff()
        rows["paper_gain"] = rows.groupby("dataset")["paper_top1"].diff()
    show_comparison(
        report, "Upgrading I3D (Figure 7)", rows, "figure7_i3d_upgrades.csv",
        "In the figure's order: a stronger backbone, no temporal pooling, squeeze-excitation; *_gain: the change "
        "from the previous step. paper_top1: full datasets, 32 frames, video level (compare video_top1); only "
        "I3D-ResNet50's is printed, the others follow from the gains the text gives.",
        "Plan them with 'stbench plan paper_i3d_upgrades'.")
