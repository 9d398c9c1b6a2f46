"""Per-class accuracy, mean class accuracy and confusion matrices of the runs that saved predictions."""

from __future__ import annotations

import pandas as pd

from benchmark.analysis import figures
from benchmark.analysis.per_class import mean_class_accuracy, most_confused, per_class_accuracy, run_confusion
from benchmark.analysis.report import ReportContext, register_section
from benchmark.errors import DataError

MAX_FIGURES = 24  # a figure per run; a large grid's other runs are in the CSVs only


def _run_label(row) -> str:
    return f"{row.dataset}-{row.model}-s{row.seed}"


@register_section("per class", order=60)
def section(report: ReportContext) -> None:
    per_class, summary, problems, drawn = [], [], [], 0
    for row in report.done.itertuples():
        if not isinstance(row.run_dir, str) or not row.run_dir:  # reference rows: no run directory
            continue
        try:
            matrix = run_confusion(row.run_dir)
        except DataError as exc:
            problems.append(str(exc))
            continue
        if matrix is None:
            continue
        label = _run_label(row)
        table = per_class_accuracy(matrix).assign(run=label, dataset=row.dataset, model=row.model, seed=row.seed)
        per_class.append(table)
        summary.append({"run": label, "dataset": row.dataset, "model": row.model, "seed": row.seed,
                        "classes": len(table), "top1": 100.0 * matrix.trace() / matrix.sum(),
                        "mean_class_top1": mean_class_accuracy(matrix)})
        if drawn < MAX_FIGURES:
            drawn += 1
            name = f"confusion_{label}"
            report.add_figure(name, figures.plot_confusion(matrix, report.figure_path(name), label,
                                                           pairs=most_confused(matrix)),
                              f"Confusions of {label} (true class → predicted class).")
    if not per_class and not problems:
        return
    page = report.page
    page.heading("Per-class accuracy and confusions")
    page.para("From each run's saved predictions (predictions.csv, the final evaluation). Mean class "
              "accuracy is the unweighted mean of the per-class top-1 over the classes that have videos.")
    if summary:
        page.table(pd.DataFrame(summary), report.save_csv(pd.DataFrame(summary), "mean_class_accuracy.csv"))
        columns = ["run", "dataset", "model", "seed", "class", "videos", "correct", "top1"]
        report.save_csv(pd.concat(per_class)[columns], "per_class_accuracy.csv")
        page.para("Per-class table: tables/per_class_accuracy.csv. Figures: the row-normalised confusion matrix "
                  "(or, for more than 30 classes, the 20 most confused pairs)"
                  + (f"; drawn for the first {MAX_FIGURES} runs only." if len(summary) > MAX_FIGURES else "."))
    if problems:
        page.para("Predictions that could not be read:")
        page.bullets(problems)
