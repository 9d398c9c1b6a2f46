"""Shared rendering of a runs-beside-the-paper table (``benchmark.analysis.paper_experiments``)."""

from __future__ import annotations

import pandas as pd

from benchmark.analysis.report import ReportContext


def show_comparison(report: ReportContext, title: str, rows: pd.DataFrame, csv_name: str, note: str,
                    how_to_run: str) -> None:
    """A heading, the table and its CSV; or, when no run fits, one line on how to make such runs."""
    report.page.heading(title)
    if rows.empty:
        where = "The paper's values are in the printed tables below." if report.printed else how_to_run
        report.page.para(f"No runs for this comparison in this source. {where}")
        return
    report.page.para(note)
    report.page.table(rows, report.save_csv(rows, csv_name))
