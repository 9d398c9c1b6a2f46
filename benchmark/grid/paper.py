"""The paper's 288-model mini grid as a library object (issue 2, item 7).

``experiments/paper_mini_grid.yaml`` is the same spec as a file; a test keeps the two identical.
"""

from __future__ import annotations

import copy
from pathlib import Path

from benchmark.grid.spec import Experiment, experiment_from_dict

PAPER_MINI_GRID = {
    "name": "paper-mini-grid",
    "output": "results/paper_mini_grid",
    "datasets": ["mini-ssv2", "mini-kinetics", "mini-mit"],
    "axes": {
        "modules": ["TSN", "I3D", "S3D", "TAM"],
        "backbones": ["InceptionV1", "ResNet18", "ResNet50"],
        "tp": [False, True],
        "frames": [8, 16, 32, 64],
        "seeds": [0],
    },
    "progressive": True,
    "run": {"batch_size": 72, "workers": 8},
    "protocol": {64: {"batch_size": 36, "sync_bn": True}},
    "overrides": [
        {"match": {"module": ["I3D", "S3D"], "backbone": "ResNet50", "frames": 32},
         "set": {"batch_size": 36, "sync_bn": True}},
    ],
}


def paper_mini_grid(output: str | Path | None = None) -> Experiment:
    """The 288 runs (4 modules x 3 backbones x tp off/on x 8/16/32/64 frames x 3 mini datasets)."""
    spec = copy.deepcopy(PAPER_MINI_GRID)
    if output is not None:
        spec["output"] = str(output)
    return experiment_from_dict(spec, source="paper mini grid")
