"""Paper Table 2 from runs: the state-of-the-art comparison on the full datasets."""

from benchmark.analysis.paper_experiments import sota_table
from benchmark.analysis.report import ReportContext, register_section
from benchmark.analysis.sections._comparison import show_comparison


@register_section("table 2 sota", order=69)
def section(report: ReportContext) -> None:
    show_comparison(
        report, "State of the art on the full datasets (Table 2)", sota_table(report.done), "table2_sota.csv",
        "Runs of Table 2's models on Kinetics-400, SSv2 and MiT; setting = the initialisation. gflops_224: the "
        "run's multiply-adds per clip at 224²; paper_gflops as printed (the paper's test resolution). "
        "paper_top1 is video level (compare video_top1).",
        "Plan them with 'stbench plan paper_sota'.")
