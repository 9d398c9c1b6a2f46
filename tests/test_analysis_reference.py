import itertools

import pytest

from benchmark.analysis.reference import (
    REFERENCE_DIR,
    load_mini_grid,
    parse_mini_grid_markdown,
    parse_official_name,
)
from benchmark.errors import DataError


def test_shipped_mini_grid_has_288_unique_runs_covering_the_grid():
    grid = load_mini_grid()
    assert len(grid) == 288
    assert not grid.duplicated(["dataset", "model"]).any()
    assert grid.groupby("dataset").size().to_dict() == {"mini-kinetics": 96, "mini-mit": 96, "mini-ssv2": 96}
    expected = set(itertools.product(["TSN", "TAM", "I3D", "S3D"], ["InceptionV1", "ResNet18", "ResNet50"],
                                     [False, True], [8, 16, 32, 64]))
    for dataset, rows in grid.groupby("dataset"):
        got = set(zip(rows.module, rows.backbone, rows.tp, rows.frames))
        assert got == expected, dataset
    assert grid.tp.dtype == bool and grid.syncbn.dtype == bool


def test_shipped_csv_equals_a_fresh_parse_of_the_markdown():
    fresh = parse_mini_grid_markdown(REFERENCE_DIR / "ibm_benchmark_mini.md")
    shipped = load_mini_grid().set_index(["dataset", "model"]).sort_index()
    fresh = fresh.set_index(["dataset", "model"]).sort_index()
    assert (shipped[["top1", "top5", "flops", "params", "epochs"]] == fresh[["top1", "top5", "flops", "params", "epochs"]]).all().all()


def test_known_rows_read_as_printed():
    grid = load_mini_grid().set_index(["dataset", "model"])
    # values copied by hand from ibm_benchmark_mini.md
    row = grid.loc[("mini-ssv2", "TAM-ResNet50-f8")]
    assert (row.top1, row.top5, row.flops, row.params) == (65.4378, 89.1432, 32_831_963_136, 23_725_655)
    row = grid.loc[("mini-ssv2", "S3D-InceptionV1-tp-f32")]  # printed without a space before '|'
    assert row.top1 == 61.590 and row.batch_size == 60
    row = grid.loc[("mini-kinetics", "I3D-ResNet50-f64")]  # marked '*': stopped after 41 of 45 epochs
    assert row.epochs == 41 and row.official_name.endswith("-e45")
    row = grid.loc[("mini-mit", "TSN-ResNet18-tp-f64")]
    assert row.schedule == "multisteps" and not row.syncbn


@pytest.mark.parametrize(
    "name, expected",
    [
        ("mini_st2stv2-i3d-f8-cosine-bs72-e75", ("I3D", "InceptionV1", False, 8)),
        ("mini_moments-s3d-resnet-50-ts-f64-multisteps-syncbn-bs36-e35", ("S3D", "ResNet50", True, 64)),
        ("mini_kinetics400-TAM-b3-sum-inception-v1-tp-max-f16-multisteps-bs72-e45", ("TAM", "InceptionV1", True, 16)),
        ("mini_st2stv2-resnet-18-tp-f32-multisteps-bs72-e35", ("TSN", "ResNet18", True, 32)),
    ],
)
def test_parse_official_name(name, expected):
    got = parse_official_name(name)
    assert (got["module"], got["backbone"], got["tp"], got["frames"]) == expected


def test_bad_rows_are_reported_with_file_and_line(tmp_path):
    md = tmp_path / "t.md"
    md.write_text("| Model | a |\n| mini_st2stv2-resnet-18-f8-cosine-bs72-e75 | 1.0 | 2.0 | 3 | 4 | 75 |\n"
                  "| mini_st2stv2-foo-f8-cosine-bs72-e75 | 1 | 2 | 3 | 4 | 75 |\n")
    with pytest.raises(DataError, match=r"t.md:3: cannot parse run name"):
        parse_mini_grid_markdown(md)
    md.write_text("| mini_st2stv2-resnet-18-f8-cosine-bs72-e75 | 1.0 | 2.0 | 3 | 4 | 75 |\n"
                  "| mini_st2stv2-resnet-18-f8-cosine-bs72-e75 | 1.5 | 2.0 | 3 | 4 | 75 |\n")
    with pytest.raises(DataError, match=r"t.md:2: .* disagrees .* top1"):
        parse_mini_grid_markdown(md)


def test_transcribed_tables_agree_with_the_grid():
    """Independent cross-check of the hand transcription: Tables 5/10 vs the official grid."""
    import pandas as pd

    grid = load_mini_grid()
    grid = grid[~grid.tp].set_index(["dataset", "module", "backbone", "frames"])
    t5 = pd.read_csv(REFERENCE_DIR / "paper_table5.csv")
    assert len(t5) == 40 and t5.source.str.contains("Table 5").all()
    off = []
    for r in t5[t5.aggregation.isin(["none", "I3D", "TAM"])].itertuples():
        module = "TSN" if r.aggregation == "none" else r.aggregation
        value = grid.loc[(r.dataset, module, r.backbone, r.frames), "top1"]
        if abs(value - r.top1) > 0.05 + 1e-9:
            off.append((r.dataset, module, r.backbone, r.frames, r.top1, value))
    # the only printed cell that is not the grid's value rounded to one decimal (75.5718 printed as 75.5)
    assert off == [("mini-kinetics", "I3D", "ResNet50", 16, 75.5, 75.5718)]

    t10 = pd.read_csv(REFERENCE_DIR / "paper_table10.csv")
    for r in t10[t10.aggregation.isin(["none", "I3D", "TAM"])].itertuples():
        module = "TSN" if r.aggregation == "none" else r.aggregation
        row = grid.loc[("mini-ssv2", module, r.backbone, 8)]  # Table 10's params: 87 classes (mini-SSv2)
        assert round(row.flops / 1e9, 1) == r.flops_g_f8
        assert round(row.params / 1e6, 1) == r.params_m

    t7 = pd.read_csv(REFERENCE_DIR / "paper_table7.csv")
    assert len(t7) == 27 and set(t7.metric) == {"phi", "psi_ta", "psi_ta_tp"}
    for name in ("paper_table2.csv", "paper_table8.csv"):
        assert pd.read_csv(REFERENCE_DIR / name).source.notna().all()
