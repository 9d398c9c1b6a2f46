"""Accuracy at matched cost (issue 22, item 6): log-cost interpolation and the Pareto front against
values worked out by hand; the CLI and the report section."""

from __future__ import annotations

import json
import math

import pytest
from test_analysis_fixtures import make_run

from benchmark.analysis.at_cost import cost_points, matched_cost, pareto_front
from benchmark.analysis.collect import collect, done_runs
from benchmark.cli import main

POINTS = [("TAM-ResNet18-f8", 10e9, 60.0), ("TAM-ResNet18-f16", 20e9, 66.0), ("TAM-ResNet18-f32", 40e9, 70.0),
          ("I3D-ResNet18-f8", 30e9, 62.0), ("I3D-ResNet18-f16", 60e9, 70.0)]


@pytest.fixture()
def runs(tmp_path):
    for model, macs, top1 in POINTS:
        make_run(tmp_path, model, "mini-ssv2", top1=top1, macs_conv=int(macs))
    return tmp_path


def test_matched_cost_interpolates_in_log_cost_by_hand(runs):
    rows = matched_cost(done_runs(collect(runs)), "I3D", ["TAM"], "macs").set_index("model")
    # TAM at 30 GMACs: between 20 (66) and 40 (70) at log(30/20)/log(40/20) of the way
    at = 66.0 + 4.0 * math.log(1.5) / math.log(2.0)
    assert rows.loc["I3D-ResNet18-f8", "against_top1_at_cost"] == pytest.approx(at)
    assert rows.loc["I3D-ResNet18-f8", "diff"] == pytest.approx(62.0 - at)
    assert rows.loc["I3D-ResNet18-f16", "note"] == "outside TAM's cost range (1e+10..4e+10)"


def test_pareto_front_by_hand(runs):
    front = pareto_front(cost_points(done_runs(collect(runs)), "macs"))
    assert list(front["model"]) == ["TAM-ResNet18-f8", "TAM-ResNet18-f16", "TAM-ResNet18-f32"]  # I3D-f16: 70 at more cost


def test_cli_and_report_with_measured_latency(runs, tmp_path, capsys):
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps([{"model": m, "device": "cpu", "latency_ms": macs / 1e9} for m, macs, _ in POINTS]))
    assert main(["compare", str(runs), "--module", "I3D", "--against", "TAM", "--at-cost", "latency",
                 "--bench", str(bench)]) == 0
    out = capsys.readouterr().out
    assert "I3D-ResNet18-f8 at latency 30: top-1 62.00 vs TAM 68.34 at the same cost, Δ -6.34" in out
    assert main(["compare", str(runs), "--module", "I3D", "--against", "TAM", "--at-cost", "latency"]) == 2
    assert "needs measured figures" in capsys.readouterr().err
    assert main(["report", str(runs), "--out", str(tmp_path / "rep"), "--bench", str(bench)]) == 0
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "Accuracy at matched cost: the Pareto front" in text and "pareto_latency.csv" in " ".join(
        p.name for p in (tmp_path / "rep").rglob("*.csv"))
