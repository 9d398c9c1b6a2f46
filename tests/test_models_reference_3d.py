"""I3D/S3D parameter and MAC counts against the official mini-grid table and the paper's Table 10.

Every I3D and S3D row of ``results/reference/paper_mini_grid.csv`` (144 rows) must match exactly:
params (incl. the classifier for the dataset's classes) and convention-(a) MACs (conv + linear, no
classifier, one 224×224 clip). The only tolerated difference is the official table's own
inconsistency for I3D-InceptionV1, named row by row below and checked to be exactly one frame of
inception 5a/5b.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import pytest

from benchmark.models.profile import profile_model

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference" / "paper_mini_grid.csv"
CLASSES = {"mini-ssv2": 87, "mini-kinetics": 200, "mini-mit": 200}

# MACs of inception 5a + 5b of I3D-InceptionV1 for ONE time step at 224×224 (7×7 maps), by hand from
# GoogLeNet's channel table (in, 1×1, 3×3red, 3×3, 5×5red, "5×5" = 3×3, pool proj); 3×3 → 3×3×3:
#   5a: 832·(256+160+32+128) + 160·320·27 + 32·128·27 = 1,972,224
#   5b: 832·(384+192+48+128) + 192·384·27 + 48·128·27 = 2,782,208   → (sum)·49 positions
ONE_FRAME_5A_5B = (832 * (256 + 160 + 32 + 128) + 160 * 320 * 27 + 32 * 128 * 27
                   + 832 * (384 + 192 + 48 + 128) + 192 * 384 * 27 + 48 * 128 * 27) * 7 * 7

# The official table is internally inconsistent for I3D-InceptionV1 without tp: f32 is reported as
# 135,226,327,040 on Mini-Kinetics/MiT but 134,993,359,872 on Mini-SSv2 (same architecture, the FC
# is not counted). The rows below report exactly one frame of inception 5a/5b fewer than the
# network has; f64 (all datasets) and f32 on Kinetics/MiT agree with the count. One frame fewer at
# 5a/5b is what S3D's unpadded kernel-2 pool before 5a gives (T → T−1): these rows were evidently
# profiled with that pool, while the I3D code (and the other rows) keep T there.
ONE_FRAME_SHORT = {
    ("mini-kinetics", "I3D-InceptionV1-f8"),
    ("mini-kinetics", "I3D-InceptionV1-f16"),
    ("mini-mit", "I3D-InceptionV1-f8"),
    ("mini-mit", "I3D-InceptionV1-f16"),
    ("mini-ssv2", "I3D-InceptionV1-f8"),
    ("mini-ssv2", "I3D-InceptionV1-f16"),
    ("mini-ssv2", "I3D-InceptionV1-f32"),
}


def _rows():
    with REFERENCE.open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["module"] in ("I3D", "S3D")]


ROWS = _rows()


@cache
def _profile(model: str, classes: int) -> dict[str, int]:
    return profile_model(model, classes)


def test_reference_covers_every_3d_cell():
    # 2 modules × 3 backbones × tp on/off × 4 frame counts × 3 datasets.
    assert len(ROWS) == 144
    assert {(r["dataset"], r["model"]) for r in ROWS} >= ONE_FRAME_SHORT


def test_the_table_itself_disagrees_by_one_5a_5b_frame():
    """Independent of our models: the same I3D-InceptionV1-f32 is reported with two FLOPs values."""
    f32 = {r["dataset"]: int(r["flops"]) for r in ROWS if r["model"] == "I3D-InceptionV1-f32"}
    assert f32["mini-kinetics"] == f32["mini-mit"]
    assert f32["mini-kinetics"] - f32["mini-ssv2"] == ONE_FRAME_5A_5B == 232_967_168


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['dataset']}:{r['model']}" for r in ROWS])
def test_params_and_macs_match_the_official_table(row):
    counts = _profile(row["model"], CLASSES[row["dataset"]])
    assert counts["params"] == int(row["params"]), "params differ from the official table"
    reported = int(row["flops"])
    if (row["dataset"], row["model"]) in ONE_FRAME_SHORT:
        # Named deviation: reported = computed − one frame of inception 5a/5b, and nothing else.
        assert counts["macs_conv"] - reported == ONE_FRAME_5A_5B, (
            f"{row['model']} on {row['dataset']}: computed {counts['macs_conv']:,}, "
            f"reported {reported:,}; expected the report to be one 5a/5b frame short")
    else:
        assert counts["macs_conv"] == reported


def test_5a_5b_share_of_one_frame_counted_per_layer():
    """Independent of the profiler: MACs of the built 5a/5b modules on one 7×7 step."""
    import torch

    from benchmark.models import build_model
    from benchmark.models.profile import count_conv_macs

    with torch.device("meta"):
        model = build_model("I3D-InceptionV1-f8", 87)
        step = torch.empty(1, 832, 1, 7, 7)
    tail = torch.nn.Sequential(model.inception5a, model.inception5b)
    assert count_conv_macs(tail, step) == ONE_FRAME_5A_5B


def test_s3d_inception_5a_5b_see_one_frame_fewer():
    """The S3D pool before 5a (kernel 2, no padding, temporal stride 1) makes T → T−1 there."""
    import torch

    from benchmark.models import build_model

    with torch.device("meta"):
        model = build_model("S3D-InceptionV1-f8", 87)
        assert model.features(torch.empty(1, 3, 8, 224, 224)).shape == (1, 1024, 7, 7, 7)
        tp = build_model("S3D-InceptionV1-tp-f8", 87)
        assert tp.features(torch.empty(1, 3, 8, 224, 224)).shape == (1, 1024, 1, 7, 7)


# Paper Table 10 (supplement), f = 8, Mini-SSv2 (87 classes): params in M, FLOPs in G (1 decimal).
def test_paper_table10_i3d_resnet50():
    counts = _profile("I3D-ResNet50-f8", 87)
    assert round(counts["params"] / 1e6, 1) == 46.3
    assert round(counts["macs_conv"] / 1e9, 1) == 64.2


def test_paper_table10_i3d_inceptionv1():
    counts = _profile("I3D-InceptionV1-f8", 87)
    assert round(counts["params"] / 1e6, 1) == 12.4
    # Table 10 prints 33.6 G, the official table's one-frame-short figure (33,573,614,592); the
    # network itself costs 33,806,581,760 MACs = 33.8 G. The paper cannot produce 33.6 G from the
    # architecture it describes; the difference is exactly one frame of inception 5a/5b.
    assert counts["macs_conv"] == 33_806_581_760
    assert round(counts["macs_conv"] / 1e9, 1) == 33.8
    assert round((counts["macs_conv"] - ONE_FRAME_5A_5B) / 1e9, 1) == 33.6
