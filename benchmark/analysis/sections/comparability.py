"""Which runs the report's tables should not set beside the others: runs whose validation set
differs from most runs of their dataset, or whose protocol differs from most runs of their dataset
at their frame count (result.json's data and protocol records; benchmark.engine.identity)."""

from __future__ import annotations

import pandas as pd

from benchmark.analysis.report import ReportContext, register_section


def outliers(done: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The runs that differ from their group's most common fingerprint, and how many runs have no
    fingerprints (results older than the records)."""
    if "val_fingerprint" not in done.columns:
        return pd.DataFrame(), len(done)
    known = done[done["val_fingerprint"].notna() & done["protocol_fingerprint"].notna()]
    rows = []
    for dataset, group in known.groupby("dataset"):
        usual = group["val_fingerprint"].mode().iloc[0]
        usual_videos = group.loc[group["val_fingerprint"] == usual, "val_videos"].iloc[0]
        for r in group[group["val_fingerprint"] != usual].itertuples():
            rows.append({"dataset": dataset, "model": r.model, "differs": "val set",
                         "detail": f"{r.val_videos} videos vs {usual_videos} in most runs", "run_dir": r.run_dir})
        for frames, same in group.groupby("frames"):
            usual_protocol = same["protocol_fingerprint"].mode().iloc[0]
            for r in same[same["protocol_fingerprint"] != usual_protocol].itertuples():
                rows.append({"dataset": dataset, "model": r.model, "differs": "protocol",
                             "detail": f"another protocol than most f{frames} runs", "run_dir": r.run_dir})
    rows += _paper_class_lists(done)
    return pd.DataFrame(rows, columns=["dataset", "model", "differs", "detail", "run_dir"]), len(done) - len(known)


def _paper_class_lists(done: pd.DataFrame) -> list[dict]:
    """Runs on a mini dataset whose class list is not the paper's (what is known of its data)."""
    from benchmark.analysis.paper_data import paper_class_fingerprints

    paper = paper_class_fingerprints()
    rows = []
    for r in done[done["dataset"].isin(list(paper))].itertuples():
        fp, count = paper[r.dataset]
        seen = getattr(r, "classes_fingerprint", None)
        if isinstance(seen, str) and seen != fp:
            rows.append({"dataset": r.dataset, "model": r.model, "differs": "class list",
                         "detail": f"not the paper's {count} {r.dataset} classes", "run_dir": r.run_dir})
    return rows


@register_section("comparability", order=15)
def section(report: ReportContext) -> None:
    if report.printed:  # the paper's own tables: one grid, one protocol
        return
    rows, unknown = outliers(report.done)
    report.page.heading("Comparability of the runs")
    note = (f" {unknown} runs have no data and protocol records (results older than them): not checked."
            if unknown else "")
    note += (" Beside the paper's mini-dataset figures only the class lists can be checked (shipped); the paper "
             "does not print its split sizes, so a copy that lost videos cannot be told from its figures.")
    if rows.empty:
        report.page.para("Every run of a dataset was evaluated on the same validation videos, and every run at one "
                         f"frame count under one protocol, so the tables below compare like with like.{note}")
        return
    report.page.para("These runs differ from the rest of their tables below: their figures are shown there but "
                     f"are not comparable with the others (stbench compare gives them no verdict).{note}")
    report.page.table(rows, report.save_csv(rows, "comparability.csv"))
