"""Paper Fig. 6: what temporal pooling adds to each model."""

from benchmark.analysis import figures
from benchmark.analysis.report import ReportContext, register_section


@register_section("temporal pooling gains", order=20)
def section(report: ReportContext) -> None:
    report.page.heading("Gain from temporal pooling (Fig. 6)")
    gains = figures.tp_gains(report.acc)
    if not gains.empty:
        report.page.table(gains, report.save_csv(gains, "tp_gains.csv"))
    report.add_figure("tp_gains", figures.plot_tp_gains(gains, report.figure_path("tp_gains")),
                      "Top-1 with temporal pooling minus without, per model and frames.")
