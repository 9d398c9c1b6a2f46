"""Experiments: YAML grids of runs, their progressive dependencies and compute estimates."""

from benchmark.grid.paper import PAPER_MINI_GRID, paper_mini_grid
from benchmark.grid.spec import (
    Axes,
    Experiment,
    ExperimentSpec,
    Override,
    PlannedRun,
    experiment_from_dict,
    load_experiment,
)

__all__ = [
    "PAPER_MINI_GRID",
    "paper_mini_grid",
    "Axes",
    "Experiment",
    "ExperimentSpec",
    "Override",
    "PlannedRun",
    "experiment_from_dict",
    "load_experiment",
]
