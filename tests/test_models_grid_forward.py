"""Every model of the paper's mini grid, at its own frame count, runs forward and backward on a tiny
CPU clip and returns (B, classes) with finite gradients everywhere."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from benchmark.models import build_model

GRID = pd.read_csv(Path(__file__).resolve().parents[1] / "results" / "reference" / "paper_mini_grid.csv")
MODELS = sorted(set(GRID["model"]))


def test_the_grid_has_96_distinct_models():
    assert len(MODELS) == 4 * 3 * 2 * 4


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_grid_model_forward_backward_at_its_frame_count(name):
    torch.manual_seed(0)
    frames = int(name.rsplit("-f", 1)[1])
    model = build_model(name, 5)
    clip = torch.randn(2, 3, frames, 32, 32)
    out = model(clip)
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    out.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
