"""The paper's printed tables as shipped, for ``stbench report --reference paper``."""

from benchmark.analysis.printed import PRINTED, load_printed
from benchmark.analysis.report import ReportContext, register_section


@register_section("printed tables", order=90)
def section(report: ReportContext) -> None:
    if not report.printed:
        return
    report.page.heading("The paper's printed tables (paper 002)")
    report.page.para("As printed (transcribed by hand; each CSV's source column names the table). Tables 5 and 7 "
                     "are also recomputed above from the official mini-grid results.")
    for key, printed in PRINTED.items():
        table = load_printed(key)
        sources = sorted(set(table.pop("source"))) if "source" in table else []
        report.page.subheading(printed.title)
        report.page.table(table, report.save_csv(table, f"printed_{key}.csv"), floatfmt="{:g}")
        if printed.note:
            report.page.para(printed.note)
        if sources:
            report.page.para("Source: " + "; ".join(sources))
