"""Paper Table 5: the temporal aggregations compared without temporal pooling."""

from benchmark.analysis import figures
from benchmark.analysis.report import ReportContext, register_section


@register_section("temporal aggregation", order=30)
def section(report: ReportContext) -> None:
    report.page.heading("Temporal aggregation without temporal pooling (Table 5)")
    agg = figures.aggregation_table(report.acc)
    if not agg.empty:
        report.page.table(agg, report.save_csv(agg, "table5_aggregation.csv", index=True), floatfmt="{:.1f}")
    report.add_figure("aggregation", figures.plot_aggregation(report.acc, report.figure_path("aggregation")),
                      "Top-1 of each temporal aggregation (module) without temporal pooling.")
