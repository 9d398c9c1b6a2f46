"""Tables 2, 4, 6, 9 and Figure 7 from a small synthetic results folder, beside the printed values."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from test_analysis_fixtures import make_run

from benchmark.analysis import paper_experiments as pe
from benchmark.analysis.collect import collect, done_runs
from benchmark.analysis.report import build_report


def _run(root, variant, model, dataset, top1, video_top1=None, **config):
    """A finished run under ``root/variant`` whose config.yaml records ``config`` (pretrained, ...)."""
    run_dir = make_run(root / variant, model, dataset, top1=top1)
    recorded = {"model": model, "dataset": {"name": dataset, "sampling": "dense"}, "seed": 0, **config}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(recorded))
    if video_top1 is not None:
        result = (run_dir / "result.json")
        result.write_text(result.read_text().replace(f'"video_top1": {top1 + 1}', f'"video_top1": {video_top1}'))
    return run_dir


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    # Table 6: two placements and the plain model (= all); a TAM-ResNet50 without the option is not Table 6's.
    _run(root, "all", "TAM-ResNet18-f8", "mini-ssv2", 58.0, pretrained="imagenet")
    _run(root, "top", "TAM-ResNet18-f8", "mini-ssv2", 60.0, pretrained="imagenet",
         model_options={"tam_placement": "top-half"})
    _run(root, "bottom", "TAM-ResNet18-f8", "mini-ssv2", 55.0, pretrained="imagenet",
         model_options={"tam_placement": "bottom-half"})
    _run(root, "all", "TAM-ResNet50-f8", "mini-ssv2", 64.0, pretrained="imagenet")
    # Tables 2 and 9: I3D-ResNet50 both ways; a progressive TAM run (no weights, init_from) is not scratch.
    _run(root, "in", "I3D-ResNet50-f32", "kinetics400", 70.0, video_top1=76.0, pretrained="imagenet")
    _run(root, "scratch", "I3D-ResNet50-f32", "kinetics400", 69.0, video_top1=75.0, pretrained=None)
    kinetics_tam = _run(root, "in", "TAM-ResNet50-f32", "kinetics400", 71.0, video_top1=75.5, pretrained="imagenet")
    _run(root, "prog", "TAM-ResNet50-f32", "kinetics400", 70.5, pretrained=None, init_from=str(kinetics_tam))
    # Figure 7, created out of order.
    for model, video in (("I3D-SE-ResNet50-f32", 77.0), ("I3D-InceptionV1-tp-f32", 71.0),
                         ("I3D-ResNet50-tp-f32", 74.5)):
        _run(root, "in", model, "kinetics400", video - 6, video_top1=video, pretrained="imagenet")
    # Table 4: fine-tuned from the Kinetics TAM run; a mini-kinetics f16 from its own f8 is not a transfer.
    _run(root, "ft", "TAM-ResNet50-f32", "ucf101", 89.0, pretrained=None, init_from=str(kinetics_tam))
    f8 = _run(root, "in", "TSN-ResNet18-f8", "mini-kinetics", 60.0, pretrained="imagenet")
    _run(root, "in", "TSN-ResNet18-f16", "mini-kinetics", 61.0, pretrained=None, init_from=str(f8))
    return root


@pytest.fixture(scope="module")
def done(results):
    return done_runs(collect(results))


def _rows(table):
    return {(r.dataset, r.model, r.setting): (r.top1, r.paper_top1) for r in table.itertuples()}


def test_table6_rows_and_printed_values(done):
    assert _rows(pe.placement_table(done)) == {
        ("mini-ssv2", "TAM-ResNet18-f8", "all"): (58.0, 59.1),
        ("mini-ssv2", "TAM-ResNet18-f8", "top-half"): (60.0, 59.7),
        ("mini-ssv2", "TAM-ResNet18-f8", "bottom-half"): (55.0, 56.5),
    }


def test_table9_pairs_imagenet_with_scratch_only(done):
    table = pe.pretraining_table(done)
    got = {(r.model, r.setting): (r.video_top1, r.paper_top1) for r in table.itertuples()}
    assert got == {("I3D-ResNet50-f32", "imagenet"): (76.0, 76.61), ("I3D-ResNet50-f32", "scratch"): (75.0, 76.54)}


def test_figure7_in_the_figures_order_with_paper_values(done):
    table = pe.i3d_upgrades_table(done)
    # (The scratch I3D-ResNet50 run is Table 9's, not the figure's.)
    assert list(table["model"]) == ["I3D-InceptionV1-tp-f32", "I3D-ResNet50-tp-f32", "I3D-ResNet50-f32",
                                    "I3D-SE-ResNet50-f32"]
    assert list(table["paper_top1"]) == [71.51, 75.51, 76.61, 77.20]
    assert list(table["video_top1"]) == [71.0, 74.5, 76.0, 77.0]


def test_table2_by_initialisation_with_flops(done):
    table = pe.sota_table(done)
    i3d = table[table["model"] == "I3D-ResNet50-f32"].set_index("setting")
    assert i3d.loc["imagenet", "paper_top1"] == 76.61 and i3d.loc["scratch", "paper_top1"] == 76.54
    assert i3d.loc["imagenet", "paper_gflops"] == 335.3 and i3d.loc["imagenet", "gflops_224"] == 14.0
    assert set(table["model"]) == {"I3D-ResNet50-f32", "TAM-ResNet50-f32"}  # the only Table 2 models run


def test_table4_only_cross_dataset_fine_tuning(done):
    assert _rows(pe.transfer_table(done)) == {("ucf101", "TAM-ResNet50-f32", "kinetics400"): (89.0, 95.05)}


def test_report_writes_each_section_from_the_folder(results, tmp_path):
    written = build_report(collect(results), tmp_path / "report")
    for name in ("table6_placement", "table9_pretraining", "figure7_i3d_upgrades", "table2_sota",
                 "table4_transfer"):
        assert f"tables/{name}.csv" in written["tables"]
    fig7 = pd.read_csv(tmp_path / "report" / "tables" / "figure7_i3d_upgrades.csv")
    kinetics = fig7[fig7["dataset"] == "kinetics400"]
    assert kinetics["paper_gain"].round(2).tolist()[1:] == [4.0, 1.1, 0.59]  # the gains the text gives
    assert kinetics["video_gain"].round(2).tolist()[1:] == [3.5, 1.5, 1.0]


def test_sections_say_how_to_make_the_runs_when_there_are_none(tmp_path):
    make_run(tmp_path / "runs", "TSN-ResNet18-f8", "synthetic-temporal", top1=40.0)
    build_report(collect(tmp_path / "runs"), tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    for experiment in ("paper_tam_placement", "paper_sota", "paper_i3d_upgrades", "paper_transfer"):
        assert f"stbench plan {experiment}" in text
