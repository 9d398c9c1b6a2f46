"""Per-class accuracy, mean class accuracy and confusions, against hand computation."""

from __future__ import annotations

import json

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from test_analysis_fixtures import make_run

from benchmark.analysis.collect import collect
from benchmark.analysis.per_class import (
    confusion_matrix,
    mean_class_accuracy,
    most_confused,
    per_class_accuracy,
)
from benchmark.analysis.report import build_report

# 10 videos, 3 classes: class 0 has 5 videos (4 right, one taken for 2), class 1 has 4 (1 right, two
# taken for 0, one for 2), class 2 has 1 (right).
LABELS = [0, 0, 0, 0, 0, 1, 1, 1, 1, 2]
PREDS = [0, 0, 0, 0, 2, 1, 0, 0, 2, 2]


def test_confusion_matrix_by_hand():
    assert confusion_matrix(LABELS, PREDS).tolist() == [[4, 0, 1], [2, 1, 1], [0, 0, 1]]
    # A class that never occurs still gets its row and column when the class count is given.
    assert confusion_matrix([0, 1], [1, 1], num_classes=4).tolist() == [[0, 1, 0, 0], [0, 1, 0, 0],
                                                                        [0, 0, 0, 0], [0, 0, 0, 0]]


def test_per_class_and_mean_class_accuracy_by_hand():
    matrix = confusion_matrix(LABELS, PREDS, num_classes=4)  # class 3 has no videos: it does not count
    table = per_class_accuracy(matrix)
    assert table["class"].tolist() == [0, 1, 2]
    assert table["top1"].tolist() == pytest.approx([80.0, 25.0, 100.0])
    assert mean_class_accuracy(matrix) == pytest.approx((80 + 25 + 100) / 3)
    # Overall top-1 weighs videos, not classes: 6 of 10.
    assert matrix.trace() / matrix.sum() == pytest.approx(0.6)


def test_most_confused_pairs_by_hand():
    pairs = most_confused(confusion_matrix(LABELS, PREDS), k=2)
    assert pairs[["true", "predicted", "videos"]].values.tolist() == [[1, 0, 2], [0, 2, 1]]
    assert pairs["share"].iloc[0] == pytest.approx(50.0)  # 2 of class 1's 4 videos


def test_the_report_shows_per_class_results_of_runs_with_predictions(tmp_path):
    root = tmp_path / "runs"
    correct = [1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 0, 1]
    run = make_run(root, "TSN-ResNet18-f8", "synthetic-temporal", top1=66.7, correct=correct)
    make_run(root, "TAM-ResNet18-f8", "synthetic-temporal", top1=70.0)  # no predictions: not listed
    written = build_report(collect(root), tmp_path / "report")
    preds = pd.read_csv(run / "predictions.csv")
    expected = preds.groupby("label")["correct1"].mean() * 100
    table = pd.read_csv(tmp_path / "report" / "tables" / "per_class_accuracy.csv")
    assert table["run"].unique().tolist() == ["synthetic-temporal-TSN-ResNet18-f8-s0"]
    assert dict(zip(table["class"], table["top1"])) == pytest.approx(expected.to_dict())
    summary = pd.read_csv(tmp_path / "report" / "tables" / "mean_class_accuracy.csv")
    assert summary["mean_class_top1"].iloc[0] == pytest.approx(expected.mean())
    assert summary["top1"].iloc[0] == pytest.approx(100 * np.mean(correct))
    figure = tmp_path / "report" / "figures" / "confusion_synthetic-temporal-TSN-ResNet18-f8-s0.png"
    assert "figures/" + figure.name in written["figures"]
    assert mpimg.imread(figure).std() > 0.05  # drawn, not blank
    assert "Per-class accuracy and confusions" in (tmp_path / "report" / "report.md").read_text()


def test_unreadable_predictions_are_reported_not_raised(tmp_path):
    root = tmp_path / "runs"
    run = make_run(root, "TSN-ResNet18-f8", "synthetic-temporal", top1=50.0, correct=[1, 0])
    (run / "predictions.csv").write_bytes(b"\xff\xfe garbage")
    build_report(collect(root), tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    assert "Predictions that could not be read" in md and "predictions.csv" in md
    assert json.loads((tmp_path / "report" / "report.json").read_text())["pages"] == ["index.html", "report.md"]
