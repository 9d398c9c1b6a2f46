"""The runs of the source that have no result (failed, running, missing), with the reason."""

from benchmark.analysis.report import ReportContext, register_section


@register_section("runs without results", order=0)
def section(report: ReportContext) -> None:
    unfinished = report.table[report.table["state"] != "done"]
    if unfinished.empty:
        return
    report.page.heading("Runs without results")
    cols = ["dataset", "model", "seed", "state", "reason", "run_dir"]
    report.page.table(unfinished[cols].reset_index(drop=True), report.save_csv(unfinished[cols], "unfinished.csv"))
