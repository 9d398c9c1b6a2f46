"""Paper Table 6 from runs: the number and location of TAMs, beside the printed values."""

from benchmark.analysis.paper_experiments import placement_table
from benchmark.analysis.report import ReportContext, register_section
from benchmark.analysis.sections._comparison import show_comparison


@register_section("table 6 placement", order=66)
def section(report: ReportContext) -> None:
    show_comparison(
        report, "TAM placement (Table 6)", placement_table(report.done), "table6_placement.csv",
        "setting = which residual blocks have a TAM (all; top-half: the half nearest the output; bottom-half; "
        "uniform-half: every other). top1 is clip level, as the paper's mini-dataset numbers (paper_top1, "
        "TAM-ResNet18-f8).",
        "Plan them with 'stbench plan paper_tam_placement' (run option model_options: {tam_placement: ...}).")
