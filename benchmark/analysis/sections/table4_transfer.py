"""Paper Table 4 from runs: fine-tuning from another dataset's run."""

from benchmark.analysis.paper_experiments import transfer_table
from benchmark.analysis.report import ReportContext, register_section
from benchmark.analysis.sections._comparison import show_comparison


@register_section("table 4 transfer", order=65)
def section(report: ReportContext) -> None:
    show_comparison(
        report, "Transfer learning (Table 4)", transfer_table(report.done), "table4_transfer.csv",
        "Runs whose init_from is a run on another dataset; setting = that dataset. paper_top1: Table 4, "
        "fine-tuned from full-Kinetics 32-frame models.",
        "Plan them with 'stbench plan paper_transfer'.")
