"""Published checkpoints evaluated here (``stbench test --weights``) beside the accuracy their
authors printed (``stbench weights list``), matched by source, file and model."""

from __future__ import annotations

import pandas as pd

from benchmark.analysis.report import ReportContext, register_section
from benchmark.analysis.sections._comparison import show_comparison


def published_rows(done: pd.DataFrame) -> pd.DataFrame:
    from benchmark.models.published.catalog import published_checkpoints

    if "kind" not in done.columns:
        return pd.DataFrame()
    tests = done[done["kind"] == "test"]
    printed = {(f"{r['source']}:{r['file']}", r["model"]): r for r in published_checkpoints()}
    rows = []
    for _, run in tests.iterrows():
        ref = printed.get((run["weights"], run["model"]))
        rows.append({
            "model": run["model"], "dataset": run["dataset"], "weights": run["weights"],
            "video_top1": run["video_top1"],
            "published_top1": ref["top1"] if ref else None,
            "published_protocol": (f"{ref['sampling']}, {ref['clips']} clips x {ref['crops']} crops, "
                                   f"{ref['crop_size']} px" if ref else "not a listed checkpoint"),
            "run_dir": run["run_dir"],
        })
    return pd.DataFrame(rows)


@register_section("published checkpoints", order=70)
def section(report: ReportContext) -> None:
    show_comparison(
        report, "Published checkpoints evaluated here", published_rows(report.done), "published_checkpoints.csv",
        "Runs of kind test (stbench test --weights): the imported checkpoint's accuracy on your copy of the data, "
        "beside the figure its authors printed for the protocol named (a different protocol or a different copy "
        "of the data moves the figure).",
        "Import a checkpoint (stbench weights fetch NAME, or stbench weights import SOURCE FILE --model NAME "
        "--out FILE) and evaluate it: stbench test --weights FILE --dataset DATASET --clips M --crops K.")
