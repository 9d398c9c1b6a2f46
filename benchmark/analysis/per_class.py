"""Per-class accuracy, mean class accuracy and the confusion matrix, from a run's saved predictions.

Mean class accuracy (the unweighted mean of per-class top-1) is the headline metric of some datasets
(mmaction2 reports it beside top-1): it weighs rare classes like frequent ones, so a model that
ignores small classes cannot hide behind the large ones. Only classes that occur among the labels
count (a class without videos has no accuracy).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.analysis.bootstrap import read_predictions


def confusion_matrix(labels, preds, num_classes: int | None = None) -> np.ndarray:
    """``m[i, j]`` = videos of true class i predicted as j."""
    labels = np.asarray(labels, dtype=np.int64)
    preds = np.asarray(preds, dtype=np.int64)
    n = num_classes if num_classes is not None else int(max(labels.max(initial=-1), preds.max(initial=-1)) + 1)
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (labels, preds), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray) -> pd.DataFrame:
    """One row per class that has videos: ``class, videos, correct, top1`` (%)."""
    videos = matrix.sum(axis=1)
    present = np.flatnonzero(videos)
    correct = np.diag(matrix)[present]
    return pd.DataFrame({"class": present, "videos": videos[present], "correct": correct,
                         "top1": 100.0 * correct / videos[present]})


def mean_class_accuracy(matrix: np.ndarray) -> float:
    """Unweighted mean of the per-class top-1 (%) over the classes that have videos."""
    table = per_class_accuracy(matrix)
    return float(table["top1"].mean()) if len(table) else float("nan")


def most_confused(matrix: np.ndarray, k: int = 20) -> pd.DataFrame:
    """The ``k`` largest off-diagonal cells, most videos first (ties: by true, then predicted class):
    ``true, predicted, videos, share`` (% of the true class's videos)."""
    true, pred = np.nonzero(matrix * (1 - np.eye(len(matrix), dtype=matrix.dtype)))
    pairs = pd.DataFrame({"true": true, "predicted": pred, "videos": matrix[true, pred]})
    pairs = pairs.sort_values(["videos", "true", "predicted"], ascending=[False, True, True]).head(k)
    pairs["share"] = 100.0 * pairs["videos"] / matrix.sum(axis=1)[pairs["true"]]
    return pairs.reset_index(drop=True)


def run_confusion(run_dir: str | Path, num_classes: int | None = None) -> np.ndarray | None:
    """The confusion matrix of a run's ``predictions.csv``, or None when it has none."""
    path = Path(run_dir) / "predictions.csv"
    if not path.is_file():
        return None
    table = read_predictions(path)
    return confusion_matrix(table["label"], table["pred"], num_classes)
