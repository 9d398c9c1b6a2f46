"""Paper Fig. 1: accuracy against multiply-adds per clip."""

from benchmark.analysis import figures
from benchmark.analysis.report import ReportContext, register_section


@register_section("accuracy vs cost", order=50)
def section(report: ReportContext) -> None:
    report.page.heading("Accuracy vs cost (Fig. 1 style)")
    report.add_figure("accuracy_vs_macs",
                      figures.plot_accuracy_vs_macs(report.acc, report.figure_path("accuracy_vs_macs")),
                      "Top-1 vs GMACs per clip (the paper's convention: convolution and linear multiply-adds "
                      "at 224×224, whatever the training size); circle area = parameters.")
