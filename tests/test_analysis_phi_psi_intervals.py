"""Φ and Ψ with their uncertainty (issue 22, item 7): bootstrap intervals on synthetic predictions
with known truth, and Ψ undefined, with its reason, when TSN leaves no headroom beyond the noise
(the quickstart's spatial set: TSN right on 119 of 120 videos)."""

from __future__ import annotations

import numpy as np
import pytest
from test_analysis_fixtures import make_run

from benchmark.analysis.collect import collect
from benchmark.analysis.phi_psi import summarize
from benchmark.analysis.phi_psi_intervals import bootstrap_phi_psi, headroom_within_noise, phi_psi_intervals


def test_intervals_hold_the_estimates_and_cover_the_truth():
    rng = np.random.default_rng(0)
    r = bootstrap_phi_psi((rng.random(500) < 0.8).astype(float), (rng.random(500) < 0.4).astype(float))
    assert r["phi_low"] <= r["phi"] <= r["phi_high"] and r["psi_low"] <= r["psi"] <= r["psi_high"]
    assert r["psi_undefined"] is None and 0.02 < r["psi_high"] - r["psi_low"] < 0.3
    covered_phi = covered_psi = 0
    for trial in range(100):  # truth: model 80 %, TSN 40 %: Φ = 0.5, Ψ = 40 / 60
        m = (rng.random(400) < 0.8).astype(float)
        t = (rng.random(400) < 0.4).astype(float)
        r = bootstrap_phi_psi(m, t, resamples=400, seed=trial)
        covered_phi += r["phi_low"] <= 0.5 <= r["phi_high"]
        covered_psi += r["psi_low"] <= 40 / 60 <= r["psi_high"]
    assert covered_phi >= 85 and covered_psi >= 85


def test_psi_is_undefined_when_tsn_leaves_one_video_of_headroom():
    tsn = np.ones(120)
    tsn[7] = 0  # 119 of 120 right: 0.8 points of headroom
    model = np.ones(120)
    model[:20] = 0  # 100 of 120: Eq. 1 would give Ψ = (83.3 − 99.2) / 0.8 = −20
    r = bootstrap_phi_psi(model, tsn)
    assert np.isnan(r["psi"]) and "TSN leaves 0.8 points of headroom" in r["psi_undefined"]
    assert r["phi"] == pytest.approx(1.0) and r["headroom_low"] == 0.0
    tsn[:10] = 0  # 11 wrong: Ψ is measured again
    assert bootstrap_phi_psi(model, tsn)["psi_undefined"] is None


def test_summaries_and_the_report_leave_such_psi_out_with_the_reason(tmp_path):
    spatial = "synthetic-spatial"
    tsn = np.ones(120, int)
    tsn[7] = 0
    i3d = np.ones(120, int)
    i3d[:20] = 0
    make_run(tmp_path, "TSN-ResNet18-f8", spatial, top1=99.2, correct=tsn)
    make_run(tmp_path, "I3D-ResNet18-f8", spatial, top1=83.3, correct=i3d)
    assert "1 of 120 videos wrong" in headroom_within_noise([str(tmp_path / spatial / "TSN-ResNet18-f8")])
    summary = summarize(collect(tmp_path)).set_index("module")
    assert summary.loc["I3D", "psi_ta"] is None and summary.loc["I3D", "phi"] == pytest.approx(1.0)  # 99.2 / max(83.3, 99.2)
    assert any("Ψ undefined: TSN leaves 0.8 points of headroom" in m for m in summary.loc["I3D", "missing"])
    intervals = phi_psi_intervals(collect(tmp_path)).set_index("module")
    assert np.isnan(intervals.loc["I3D", "psi"]) and intervals.loc["I3D", "psi_undefined"].startswith("TSN leaves 0.8")
