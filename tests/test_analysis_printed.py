"""The paper's printed tables: shipped as CSV, rendered by ``stbench report --reference paper``, and
Table 10's costs recomputed from runs beside the printed values."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmark.analysis.collect import collect
from benchmark.analysis.printed import PRINTED, load_printed
from benchmark.analysis.reference import REFERENCE_DIR
from benchmark.cli import main


@pytest.fixture(scope="module")
def paper_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper") / "report"
    assert main(["report", "--reference", "paper", "--out", str(out)]) == 0
    return out


def test_every_printed_table_is_rendered_as_shipped(paper_report):
    md = (paper_report / "report.md").read_text()
    for key, printed in PRINTED.items():
        assert f"### {printed.title}" in md
        shown = pd.read_csv(paper_report / "tables" / f"printed_{key}.csv")
        shipped = pd.read_csv(REFERENCE_DIR / printed.file).drop(columns=["source"])
        pd.testing.assert_frame_equal(shown, shipped)
    for number in (2, 3, 4, 5, 6, 7, 8, 9, 10):
        assert f"### Table {number}:" in md


def test_transcribed_values_spot_checks():
    """A few cells read off the paper's text by hand, independently of the CSVs' transcription."""
    t3 = load_printed("table3").set_index("model")
    assert t3.loc["SlowFast-ResNet50-8x8", ["uniform_top1", "dense_top1"]].tolist() == [71.85, 76.40]
    t4 = load_printed("table4").set_index(["model", "target"])
    assert t4.loc[("I3D-ResNet50", "ucf101"), "top1"] == 97.12
    t6 = load_printed("table6").set_index("placement")
    assert t6.loc["top-half", ["tams", "mini_ssv2_top1"]].tolist() == [4, 59.7]
    t9 = load_printed("table9").set_index("model")
    assert t9.loc["TAM-ResNet50", ["imagenet_top1", "scratch_top1"]].tolist() == [76.18, 75.61]
    # Table 9's ImageNet column is Table 2's Kinetics column (same runs).
    t2 = load_printed("table2")
    t2 = t2[t2["pretrain"] == "ImageNet"].set_index("model")
    assert t9.loc["I3D-ResNet50", "imagenet_top1"] == t2.loc["I3D-ResNet50", "kinetics_top1"]


def test_table10_costs_from_the_official_runs_equal_the_printed_ones(paper_report):
    """Two published sources agree through the section: the official grid's FLOPs/params (Mini-SSv2,
    87 classes) rounded as the paper rounds equal Table 10 wherever Table 10 has the row."""
    costs = pd.read_csv(paper_report / "tables" / "table10_cost.csv")
    rows = costs[(costs["dataset"] == "mini-ssv2") & costs["flops_g_f8_printed"].notna()]
    assert set(zip(rows["backbone"], rows["aggregation"])) == {
        ("InceptionV1", "none"), ("InceptionV1", "I3D"), ("InceptionV1", "TAM"),
        ("ResNet50", "none"), ("ResNet50", "I3D"), ("ResNet50", "TAM")}
    assert (rows["flops_g_f8"].round(1) == rows["flops_g_f8_printed"]).all()
    assert (rows["params_m"].round(1) == rows["params_m_printed"]).all()


def test_printed_tables_only_for_the_paper_reference(tmp_path):
    assert main(["report", "--reference", "paper-mini", "--out", str(tmp_path / "r")]) == 0
    md = (tmp_path / "r" / "report.md").read_text()
    assert "The paper's printed tables" not in md and "(Table 10)" in md
    assert len(collect("paper-mini")) == 288
