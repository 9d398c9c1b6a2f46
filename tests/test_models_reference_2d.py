"""Params and FLOPs of the 2D models against the official mini-grid table and paper Table 10."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from benchmark.models import profile_model

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference" / "paper_mini_grid.csv"
CLASSES = {"mini-ssv2": 87, "mini-kinetics": 200, "mini-mit": 200}


def _rows(modules):
    with open(REFERENCE, newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["module"] in modules]


@pytest.mark.slow
def test_every_tsn_and_tam_row_of_the_official_table_exactly():
    rows = _rows({"TSN", "TAM"})
    assert len(rows) == 144  # 2 modules x 3 backbones x tp off/on x 4 frame counts x 3 datasets
    mismatches = []
    for row in rows:
        got = profile_model(row["model"], CLASSES[row["dataset"]])
        want = {"params": int(row["params"]), "macs_conv": int(row["flops"])}
        if {k: got[k] for k in want} != want:
            mismatches.append(f"{row['dataset']} {row['model']} ({row['source']}): got {got}, table {want}")
    assert not mismatches, "\n".join(mismatches)


# Paper Table 10 (f=8, Mini-SSv2: 87 classes): (FLOPs in G, params in M) as printed, 1 decimal.
TABLE_10 = {
    "TSN-InceptionV1-f8": (12.0, 5.7),
    "Conv-InceptionV1-f8": (32.2, 17.2),
    "TAM-InceptionV1-f8": (12.0, 5.7),
    "TSN-ResNet50-f8": (32.7, 23.7),
    "Conv-ResNet50-f8": (107.0, 71.5),
    "TAM-ResNet50-f8": (32.8, 23.7),
    "TSM-ResNet50-f8": (32.7, 23.7),
}


@pytest.mark.parametrize("name", list(TABLE_10))
def test_paper_table_10(name):
    flops_g, params_m = TABLE_10[name]
    got = profile_model(name, 87)
    assert round(got["macs_conv"] / 1e9, 1) == flops_g
    assert round(got["params"] / 1e6, 1) == params_m
    # "FLOPs of 16-frame are the double of 8-frame models, and number of parameters are the same."
    got16 = profile_model(name.replace("-f8", "-f16"), 87)
    assert got16["macs_conv"] == 2 * got["macs_conv"] and got16["params"] == got["params"]


def test_paper_table_10_nln():
    """NLN-ResNet50: the paper's 31.0 M params are reproduced; its 196 G FLOPs are not.

    Five non-local blocks on TSN-ResNet50 at 8x224x224 add 16.4 G of 1x1x1-conv MACs (49.1 G under
    the table's conv-only convention) and 47.8 G of attention matmul MACs (97.0 G counting every
    op). 196 G is about twice the all-op figure, i.e. it matches neither MAC convention (and as
    FLOPs = 2 x MACs it would be ~194 G with the convolutions doubled too), so we assert our own
    counts and keep the paper's number only as this explanation.
    """
    got = profile_model("NLN-ResNet50-f8", 87)
    assert round(got["params"] / 1e6, 1) == 31.0
    assert got["params"] == 31_044_759
    tsn = profile_model("TSN-ResNet50-f8", 87)
    # 1x1x1 convs of a block: theta, phi, g (C -> C/2) and out (C/2 -> C) at every position.
    nl_convs = 2 * (4 * 512 * 256 * 8 * 28 * 28) + 3 * (4 * 1024 * 512 * 8 * 14 * 14)
    assert got["macs_conv"] == tsn["macs_conv"] + nl_convs
    assert round(got["macs_conv"] / 1e9, 1) == 49.1
    # attention: (N x C/2) @ (C/2 x N) and (C/2 x N) @ (N x N), N = T*H*W positions
    attention = 2 * (2 * (8 * 28 * 28) ** 2 * 256) + 3 * (2 * (8 * 14 * 14) ** 2 * 512)
    classifier = 8 * 2048 * 87
    assert got["macs_all"] == got["macs_conv"] + attention + classifier
    assert round(got["macs_all"] / 1e9, 1) == 97.0
