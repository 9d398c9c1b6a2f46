"""The tables paper 002 prints, shipped as CSV (``benchmark/resources/reference/paper_*.csv``).

``stbench report --reference paper`` shows each of them as printed; a report of the user's own runs
puts the printed values beside the measured ones wherever the runs allow the comparison.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from benchmark.analysis.reference import REFERENCE_DIR
from benchmark.errors import DataError


@dataclass(frozen=True)
class PrintedTable:
    key: str
    file: str
    title: str
    note: str = ""


PRINTED = {t.key: t for t in (
    PrintedTable("table2", "paper_table2.csv", "Table 2: SOTA models on the full datasets (top-1 %, FLOPs per clip)",
                 "† as printed: the text extraction merges the paper's three footnote marks into one."),
    PrintedTable("table3", "paper_table3.csv", "Table 3: uniform vs dense sampling on Kinetics (top-1 %)"),
    PrintedTable("table4", "paper_table4.csv", "Table 4: transfer from Kinetics (top-1 %)"),
    PrintedTable("table5", "paper_table5.csv", "Table 5: temporal aggregations without temporal pooling (top-1 %)"),
    PrintedTable("table6", "paper_table6.csv", "Table 6: number and location of TAMs in TAM-ResNet18 (top-1 %)"),
    PrintedTable("table7", "paper_table7.csv", "Table 7: spatial contribution Φ̄ and temporal improvement Ψ̄"),
    PrintedTable("table8", "paper_table8.csv", "Table 8: speed and memory on a V100 32 GB (Kinetics)"),
    PrintedTable("table9", "paper_table9.csv", "Table 9: ImageNet initialisation vs training from scratch (Kinetics, top-1 %)"),
    PrintedTable("table10", "paper_table10.csv", "Table 10: Table 5 with FLOPs (G, 8 frames) and parameters (M)"),
    PrintedTable("figure7", "paper_figure7.csv", "Figure 7: upgrading I3D (top-1 %)",
                 "Only the I3D-ResNet50 values are printed (Table 2); the others follow from the gains the text "
                 "gives (column printed = false)."),
)}


def load_printed(key: str) -> pd.DataFrame:
    """A printed table as shipped (its ``source`` column names the paper's table)."""
    table = PRINTED[key]
    path = REFERENCE_DIR / table.file
    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the printed {table.key} ({exc})") from exc


def model_stem(model) -> str:
    """A model name without its frame count (``I3D-ResNet50-f32`` -> ``I3D-ResNet50``)."""
    return re.sub(r"-f\d+$", "", str(model))


def paper_model_name(model: str) -> str:
    """stbench's model name -> the paper's row name: frames dropped (``I3D-ResNet50-f32`` ->
    ``I3D-ResNet50``), SlowFast's speed ratio last (``SlowFast8x8-ResNet50`` -> ``SlowFast-ResNet50-8x8``)."""
    name = model_stem(model)
    return re.sub(r"^SlowFast(\d+x\d+)-(.+)$", r"SlowFast-\2-\1", name)


PAPER_DATASETS = {"kinetics400": "kinetics"}  # the presets whose name the paper's tables spell otherwise


def paper_dataset_name(dataset: str) -> str:
    """A dataset preset's name as the paper's tables spell it (``kinetics400`` -> ``kinetics``)."""
    return PAPER_DATASETS.get(dataset, dataset)
