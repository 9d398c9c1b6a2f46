import json

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from test_analysis_fixtures import make_run

from benchmark.analysis.collect import collect
from benchmark.analysis.reference import load_mini_grid
from benchmark.cli import main

FIGURES = ["accuracy_vs_frames.png", "tp_gains.png", "aggregation.png", "accuracy_vs_macs.png"]


def _assert_not_blank(path):
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200, path
    rgb = img[..., :3].reshape(-1, 3)
    # a drawn figure has many distinct colours and a real share of non-white pixels
    codes = (rgb * 255).astype(np.int64) @ np.array([65536, 256, 1])
    assert len(np.unique(codes)) > 50, path
    assert (rgb.min(axis=1) < 0.9).mean() > 0.02, path


@pytest.fixture(scope="module")
def reference_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["report", "--reference", "paper-mini", "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_reference_report_has_every_figure_and_table(reference_report):
    out = reference_report
    written = json.loads((out / "report.json").read_text())
    assert written["skipped"] == []
    assert written["seconds"] < 60  # ~10 s on an idle core; generous for a loaded CI machine
    for name in FIGURES:
        _assert_not_blank(out / "figures" / name)
    html = (out / "index.html").read_text()
    md = (out / "report.md").read_text()
    for name in FIGURES:
        assert f"figures/{name}" in html and f"figures/{name}" in md
    for title in ("Fig. 4", "Fig. 6", "Table 5", "Table 7", "Fig. 1"):
        assert title in md and title in html
    assert "19 of 27 cells match" in md
    assert "swapped" in md


@pytest.mark.slow
def test_reference_report_tables_equal_the_csv(reference_report):
    grid = load_mini_grid().set_index(["dataset", "module", "backbone", "tp", "frames"]).sort_index()
    acc = pd.read_csv(reference_report / "tables" / "accuracy.csv").set_index(grid.index.names).sort_index()
    assert len(acc) == 288
    assert (acc["top1"] == grid["top1"]).all() and (acc["top5"] == grid["top5"]).all()
    assert (acc["macs_conv"] == grid["flops"]).all() and (acc["params"] == grid["params"]).all()

    t5 = pd.read_csv(reference_report / "tables" / "table5_aggregation.csv", header=[0, 1], index_col=[0, 1])
    assert t5.loc[("mini-ssv2", 8), ("ResNet50", "TAM")] == grid.loc[("mini-ssv2", "TAM", "ResNet50", False, 8), "top1"]
    assert t5.loc[("mini-kinetics", 16), ("InceptionV1", "TSN")] == grid.loc[("mini-kinetics", "TSN", "InceptionV1", False, 16), "top1"]

    gains = pd.read_csv(reference_report / "tables" / "tp_gains.csv").set_index(["dataset", "module", "backbone", "frames"])
    g = gains.loc[("mini-ssv2", "I3D", "ResNet50", 64), "gain"]
    assert g == pytest.approx(grid.loc[("mini-ssv2", "I3D", "ResNet50", True, 64), "top1"]
                              - grid.loc[("mini-ssv2", "I3D", "ResNet50", False, 64), "top1"])

    t7 = pd.read_csv(reference_report / "tables" / "table7_phi_psi.csv").set_index(["dataset", "module"])
    assert round(t7.loc[("mini-ssv2", "TAM"), "psi_ta"], 2) == 0.47
    assert t7["missing"].isna().all()
    md = (reference_report / "report.md").read_text()
    assert f"{t7.loc[('mini-ssv2', 'TAM'), 'psi_ta']:.3f}" in md


def _quickstart_like(root, with_macs=True):
    """Like the quickstart: ResNet18, 8 frames, TSN/TAM/TSM/I3D with and without tp, two synthetic datasets."""
    for i, ds in enumerate(["synthetic-temporal", "synthetic-spatial"]):
        for j, module in enumerate(["TSN", "TAM", "TSM", "I3D"]):
            for tp in (False, True):
                name = f"{module}-ResNet18{'-tp' if tp else ''}-f8"
                if with_macs:
                    make_run(root, name, ds, top1=30.0 + 10 * j - 5 * tp + i)
                else:
                    run = make_run(root, name, ds, top1=30.0 + 10 * j - 5 * tp + i)
                    rec = json.loads((run / "result.json").read_text())
                    rec.update(macs_conv=None, macs_all=None, params=None)
                    (run / "result.json").write_text(json.dumps(rec))
    return root


@pytest.mark.slow
@pytest.mark.parametrize("with_macs", [False, True])
def test_report_on_a_small_source_degrades_gracefully(tmp_path, with_macs):
    src = _quickstart_like(tmp_path / "runs", with_macs)
    make_run(tmp_path / "runs", "TAM-ResNet18-f16", "synthetic-temporal", "failed", reason="killed")
    out = tmp_path / "report"
    assert main(["report", str(src), "--out", str(out)]) == 0
    written = json.loads((out / "report.json").read_text())
    expected = FIGURES if with_macs else FIGURES[:3]
    assert sorted(written["figures"]) == sorted(f"figures/{n}" for n in expected)
    for name in expected:
        _assert_not_blank(out / "figures" / name)
    md = (out / "report.md").read_text()
    if not with_macs:
        assert "Figure not drawn: no MACs recorded" in md
    assert "TAM-ResNet18-f16: failed" in md  # the failed f16 run leaves a missing cell, reported
    assert "Against the paper's printed Table 7" not in md  # not the paper's datasets
    t7 = pd.read_csv(out / "tables" / "table7_phi_psi.csv").set_index(["dataset", "module"])
    # TAM-ResNet18-f8 on synthetic-temporal: 40 vs TSN 30
    assert t7.loc[("synthetic-temporal", "TAM"), "psi_ta"] == pytest.approx(10 / 70)


def test_report_on_a_source_without_finished_runs(tmp_path):
    make_run(tmp_path / "runs", "TAM-ResNet18-f8", "synthetic-temporal", "running")
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "runs"), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "Figure not drawn: no finished runs" in md
    assert collect(tmp_path / "runs").state.tolist() == ["running"]


def test_cost_figure_with_a_single_cost_value(tmp_path):
    """The quickstart's models share one MACs value: the bubble plot must still draw a readable axis."""
    from benchmark.analysis.collect import done_runs
    from benchmark.analysis.figures import model_accuracy, plot_accuracy_vs_macs

    acc = model_accuracy(done_runs(collect(_quickstart_like(tmp_path / "runs"))))
    assert acc["macs_conv"].nunique() == 1
    path, why = plot_accuracy_vs_macs(acc, tmp_path / "bubble.png")
    assert why is None
    _assert_not_blank(path)


def test_a_report_section_from_one_plugin_file(tmp_path):
    """STBENCH_PLUGINS: a file registering a section puts it in every report, at its order."""
    import os
    import subprocess
    import sys
    import textwrap

    (tmp_path / "my_section.py").write_text(textwrap.dedent('''
        from benchmark.analysis.report import register_section

        @register_section("best per dataset", order=45)
        def section(report):
            best = report.done.sort_values("top1").groupby("dataset").tail(1)[["dataset", "model", "top1"]]
            report.page.heading("Best model per dataset")
            report.page.table(best.reset_index(drop=True), report.save_csv(best, "best.csv"))
    '''))
    code = ("from benchmark.analysis.collect import collect; from benchmark.analysis.report import build_report; "
            f"build_report(collect('paper-mini'), {str(tmp_path / 'out')!r})")
    env = {**os.environ, "STBENCH_PLUGINS": "my_section", "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    md = (tmp_path / "out" / "report.md").read_text()
    assert md.index("(Table 7") < md.index("## Best model per dataset") < md.index("## Accuracy vs cost")
    best = pd.read_csv(tmp_path / "out" / "tables" / "best.csv")
    reference = load_mini_grid()
    expected = reference.loc[reference.groupby("dataset")["top1"].idxmax(), ["dataset", "top1"]]
    assert dict(zip(best["dataset"], best["top1"])) == dict(zip(expected["dataset"], expected["top1"]))
    assert "tables/best.csv" in json.loads((tmp_path / "out" / "report.json").read_text())["tables"]
