"""Every registered module on every backbone it supports, and every architecture, runs forward and
backward on a tiny CPU clip: (B, classes) logits and finite gradients on every parameter.

The cells come from the registries, so a plugin loaded through STBENCH_PLUGINS is iterated too.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from benchmark.errors import ModelError
from benchmark.models import ARCHITECTURES, MODULES, build_model, load_plugins, parse_model_name
from benchmark.models.registry import supported_backbones

load_plugins()
FAST_BACKBONES = ("ResNet18", "InceptionV1")
# Architectures whose smallest clip would leave a part unused (FASTER: one clip never runs the GRU).
ARCHITECTURE_FRAMES = {"FASTER16": 32, "FASTER32": 64}
CELLS = [(module, backbone) for module in MODULES for backbone in supported_backbones(module)]


def _module_params():
    for module, backbone in CELLS:
        for tp in (False, True):
            if tp and backbone not in FAST_BACKBONES:
                continue
            name = f"{module}-{backbone}{'-tp' if tp else ''}-f4"
            slow = backbone not in FAST_BACKBONES or module == "NLN"
            yield pytest.param(name, id=name, marks=[pytest.mark.slow] if slow else [])


def _smallest_frames(architecture: str) -> int:
    if architecture in ARCHITECTURE_FRAMES:
        return ARCHITECTURE_FRAMES[architecture]
    for frames in (4, 8, 16, 32):
        try:
            parse_model_name(f"{architecture}-f{frames}")
            build_model(f"{architecture}-f{frames}", 2)
            return frames
        except ModelError:
            continue
    return min(ARCHITECTURES[architecture].default_frames)


def _forward_backward(name: str, size: int = 32) -> None:
    torch.manual_seed(0)
    model = build_model(name, 5)
    clip = torch.randn(2, 3, parse_model_name(name).frames, size, size)
    out = model(clip)
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    out.sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: {pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}: {pname} has a non-finite gradient"


@pytest.mark.parametrize("name", list(_module_params()))
def test_module_on_backbone_forward_backward(name):
    try:
        _forward_backward(name)
    except ModelError as exc:  # a module may refuse -tp, but must say so in one clear line
        assert parse_model_name(name).tp and "does not support temporal pooling" in str(exc), exc


@pytest.mark.slow
@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_architecture_forward_backward(architecture):
    frames = _smallest_frames(architecture)
    _forward_backward(f"{architecture}-f{frames}")


def test_the_cells_cover_every_module_and_the_paper_mini_grid():
    """Each module is iterated on at least one backbone, and the 96 models of the paper's mini grid
    (4 modules x 3 backbones x tp or not x 4 frame counts) are all among the iterated cells."""
    assert {m for m, _ in CELLS} == set(MODULES)
    grid = pd.read_csv(Path(__file__).resolve().parents[1] / "results" / "reference" / "paper_mini_grid.csv")
    models = sorted(set(grid["model"]))
    assert len(models) == 4 * 3 * 2 * 4
    specs = [parse_model_name(name) for name in models]
    assert {(s.module, s.backbone) for s in specs} <= set(CELLS)
