"""Paper Table 9 from runs: ImageNet initialisation vs training from scratch."""

from benchmark.analysis.paper_experiments import pretraining_table
from benchmark.analysis.report import ReportContext, register_section
from benchmark.analysis.sections._comparison import show_comparison


@register_section("table 9 pretraining", order=67)
def section(report: ReportContext) -> None:
    show_comparison(
        report, "ImageNet vs scratch (Table 9)", pretraining_table(report.done), "table9_pretraining.csv",
        "Models trained both ways on one dataset (scratch: no weights and no init_from). paper_top1: Table 9, "
        "full Kinetics, video level (compare video_top1).",
        "Plan them with 'stbench plan paper_sota' (its pretrained axis), or any grid with options: "
        "{pretrained: [auto, null]}.")
