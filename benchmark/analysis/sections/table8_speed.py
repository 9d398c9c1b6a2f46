"""Paper Table 8 from measurements: speed, memory and the largest batch, with accuracy, beside the
printed V100 values (only ratios between models are comparable across machines)."""

from benchmark.analysis import figures
from benchmark.analysis.measured_cost import table8
from benchmark.analysis.printed import load_printed
from benchmark.analysis.report import ReportContext, register_section


@register_section("table 8 speed", order=55)
def section(report: ReportContext) -> None:
    if report.bench is None or report.bench.empty:
        return
    rows = table8(report.bench, report.done, load_printed("table8"))
    base = rows["train_clips_per_s"].iloc[0]
    rows["train_vs_first"] = rows["train_clips_per_s"] / base
    report.page.heading("Measured speed and memory (Table 8)")
    report.page.para("Measured side by side by 'stbench bench' (interleaved, warm-up excluded). Absolute speeds "
                     "depend on the machine; compare ratios (train_vs_first: against the first model) with the "
                     "paper's V100 figures (paper_*), printed for the models Table 8 has.")
    report.page.table(rows, report.save_csv(rows, "table8_measured.csv"))
    report.add_figure("accuracy_vs_throughput",
                      figures.plot_accuracy_vs_throughput(rows, report.figure_path("accuracy_vs_throughput")),
                      "Top-1 vs measured training throughput.")
