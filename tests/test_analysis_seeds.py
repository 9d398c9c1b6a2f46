"""Seed noise (issue 22, item 5): the two-level bootstrap against hand-computed and simulated truth,
the seed spread of a report, and ``plan --detect``'s seeds per cell from the textbook formula."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from test_analysis_fixtures import make_run

from benchmark.analysis.bootstrap import paired_bootstrap
from benchmark.analysis.collect import collect, done_runs
from benchmark.analysis.compare import compare_modules
from benchmark.analysis.seeds import pooled_sd, seed_spread, seeds_needed, two_level_bootstrap
from benchmark.cli import main


def test_one_seed_each_is_the_paired_bootstrap_and_seed_noise_widens_the_interval():
    rng = np.random.default_rng(0)
    a = (rng.random(400) < 0.7).astype(float)
    b = (rng.random(400) < 0.6).astype(float)
    one = two_level_bootstrap(a[None], b[None], resamples=4000, seed=1)
    paired = paired_bootstrap(a, b, resamples=4000, seed=1)
    assert one.diff == pytest.approx(100 * (a.mean() - b.mean()))
    assert one.high - one.low == pytest.approx(paired.high - paired.low, rel=0.1)
    # three seeds per side whose accuracies differ by several points: a wider interval around the same mean
    noisy_a = np.stack([np.where(rng.random(400) < p, 1.0, 0.0) for p in (0.62, 0.70, 0.78)])
    noisy_b = np.stack([np.where(rng.random(400) < p, 1.0, 0.0) for p in (0.52, 0.60, 0.68)])
    calm = two_level_bootstrap(noisy_a.mean(0, keepdims=True), noisy_b.mean(0, keepdims=True), resamples=4000)
    noisy = two_level_bootstrap(noisy_a, noisy_b, resamples=4000)
    assert noisy.diff == pytest.approx(calm.diff)
    assert noisy.high - noisy.low > 1.3 * (calm.high - calm.low)


def test_the_interval_covers_the_true_difference_about_95_percent_of_the_time():
    """Simulated: each seed's per-video accuracy drawn around the true one (seed SD 2 points)."""
    rng = np.random.default_rng(5)
    covered = 0
    trials = 120
    for t in range(trials):
        sides = []
        for truth in (0.70, 0.68):
            seeds = truth + rng.normal(0, 0.02, size=3)
            sides.append(np.stack([(rng.random(500) < p).astype(float) for p in seeds]))
        r = two_level_bootstrap(*sides, resamples=800, seed=t)
        covered += r.low <= 2.0 <= r.high
    assert 0.88 <= covered / trials <= 1.0


def test_seeds_needed_is_the_two_sample_formula_by_hand():
    # 2 (1.959964 + 0.841621)^2 sd^2 / d^2: sd 1, d 0.5 -> 62.79 -> 63; sd 0.4, d 1 -> 2.51 -> 3
    assert seeds_needed(1.0, 0.5) == 63 and seeds_needed(0.4, 1.0) == 3 and seeds_needed(0.01, 5) == 2
    with pytest.raises(ValueError):
        seeds_needed(1.0, 0)


def _seeded_runs(root, ds="synthetic-temporal"):
    for seed, (tam, tsm) in enumerate([(60.0, 59.0), (61.0, 60.5), (62.0, 59.5)]):
        rng = np.random.default_rng(seed)
        make_run(root, "TAM-ResNet18-f8", ds, top1=tam, seed=seed, correct=(rng.random(300) < tam / 100).astype(int))
        make_run(root, "TSM-ResNet18-f8", ds, top1=tsm, seed=seed, correct=(rng.random(300) < tsm / 100).astype(int))
    make_run(root, "TSN-ResNet18-f8", ds, top1=30.0)


def test_spread_compare_and_report_with_several_seeds(tmp_path):
    _seeded_runs(tmp_path / "runs")
    spread = seed_spread(done_runs(collect(tmp_path / "runs"))).set_index("module")
    assert spread.loc["TAM", "seeds"] == 3 and spread.loc["TAM", "sd"] == pytest.approx(1.0)
    assert spread.loc["TSM", "sd"] == pytest.approx(np.std([59.0, 60.5, 59.5], ddof=1))
    assert pooled_sd(spread.reset_index()) == pytest.approx(np.sqrt((1.0 + np.var([59.0, 60.5, 59.5], ddof=1)) / 2))
    row = compare_modules(collect(tmp_path / "runs"), "TAM", ["TSM"], resamples=500).iloc[0]
    assert "over 3 vs 3 seeds and their videos" in row["verdict"]
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "rep")]) == 0
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "## Seed spread" in text and "pooled standard deviation" in text


def test_plan_detect_says_how_many_seeds_from_the_runs_it_names(tmp_path, capsys):
    _seeded_runs(tmp_path / "earlier")
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "n", "output": str(tmp_path / "out"), "datasets": ["synthetic-temporal"],
                                   "axes": {"modules": ["TSN"], "backbones": ["ResNet18"], "frames": [8]}}))
    assert main(["plan", str(exp), "--no-estimate", "--detect", "0.5", "--seeds-from", str(tmp_path / "earlier")]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    sd = np.sqrt((1.0 + np.var([59.0, 60.5, 59.5], ddof=1)) / 2)
    assert line.startswith(f"--detect 0.5: {seeds_needed(sd, 0.5)} seeds per cell") and f"{sd:.2f} points" in line
    assert main(["plan", str(exp), "--no-estimate", "--detect", "0.5"]) == 0  # its own output: nothing run yet
    assert "no repeated runs" in capsys.readouterr().out
    assert main(["plan", str(exp), "--no-estimate", "--detect", "-1"]) == 2
