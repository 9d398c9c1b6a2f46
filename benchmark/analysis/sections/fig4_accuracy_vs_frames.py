"""Paper Fig. 4 / Fig. 10: top-1 accuracy against the number of input frames."""

import pandas as pd

from benchmark.analysis import figures
from benchmark.analysis.report import ReportContext, register_section


@register_section("accuracy vs frames", order=10)
def section(report: ReportContext) -> None:
    acc = report.acc
    report.page.heading("Top-1 accuracy vs frames (Fig. 4 / Fig. 10)")
    report.save_csv(acc, "accuracy.csv")
    by_frames = acc.pivot_table(index=["dataset", "module", "backbone", "tp"], columns="frames", values="top1",
                                sort=False) if not acc.empty else pd.DataFrame()
    by_frames.columns = [f"f{c}" for c in by_frames.columns]
    report.page.table(by_frames, report.save_csv(by_frames, "accuracy_by_frames.csv", index=True))
    report.add_figure("accuracy_vs_frames",
                      figures.plot_accuracy_vs_frames(acc, report.figure_path("accuracy_vs_frames")),
                      "Top-1 accuracy vs input frames; colour = module, marker = backbone.")
