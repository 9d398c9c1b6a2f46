import numpy as np
import pytest
from test_analysis_fixtures import make_run

from benchmark.analysis.bootstrap import paired_bootstrap, paired_correctness
from benchmark.analysis.collect import collect
from benchmark.analysis.compare import compare_modules
from benchmark.cli import main
from benchmark.errors import DataError


def _paired(n, a_only, b_only, seed=0):
    """0/1 vectors on n videos: ``a_only`` videos only A gets right, ``b_only`` only B."""
    rng = np.random.default_rng(seed)
    both = (rng.random(n) < 0.5).astype(int)
    a, b = both.copy(), both.copy()
    idx = rng.permutation(np.flatnonzero(both == 0))
    a[idx[:a_only]] = 1
    b[idx[a_only:a_only + b_only]] = 1
    return a, b


def test_known_difference_is_covered_and_significant():
    a, b = _paired(1000, a_only=120, b_only=20)  # exactly +10.0 points
    r = paired_bootstrap(a, b, resamples=4000)
    assert r.diff == pytest.approx(10.0)
    assert r.low < 10.0 < r.high and r.low > 0 and r.significant
    # width agrees with the normal approximation of a paired mean: ±1.96 sd(d)/sqrt(n)
    d = (a - b) * 100.0
    half = 1.96 * d.std(ddof=1) / np.sqrt(d.size)
    assert (r.high - r.low) / 2 == pytest.approx(half, rel=0.1)


def test_no_difference_contains_zero():
    a, b = _paired(800, a_only=60, b_only=60)  # exactly 0 points
    r = paired_bootstrap(a, b, resamples=4000)
    assert r.diff == 0.0 and r.low < 0 < r.high and not r.significant
    assert "not significant" in r.describe()


def test_coverage_on_simulated_test_sets():
    """Over many test sets drawn from a known model pair, the 95% CI covers the true difference ~95%."""
    rng = np.random.default_rng(7)
    true_diff, covered, reps = 5.0, 0, 150
    for rep in range(reps):
        u = rng.random(400)
        a = (u < 0.65).astype(int)  # P(A right) = 0.65, P(B right) = 0.60, correlated through u
        b = (u < 0.60).astype(int)
        r = paired_bootstrap(a, b, resamples=1000, seed=rep)
        covered += r.low <= true_diff <= r.high
    assert 0.88 <= covered / reps <= 0.995


def test_bootstrap_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        paired_bootstrap([1, 0], [1, 0, 1])


@pytest.fixture()
def runs(tmp_path):
    ds = "synthetic-temporal"
    tam, i3d = _paired(600, a_only=90, b_only=10, seed=1)
    tsm = tam.copy()  # same accuracy as TAM, 25 videos differ each way
    rng = np.random.default_rng(3)
    right, wrong = np.flatnonzero(tam == 1), np.flatnonzero(tam == 0)
    tsm[rng.choice(right, 25, replace=False)] = 0
    tsm[rng.choice(wrong, 25, replace=False)] = 1
    make_run(tmp_path, "TSN-ResNet18-f8", ds, top1=40.0)
    make_run(tmp_path, "TAM-ResNet18-f8", ds, top1=100 * tam.mean(), correct=tam, params=11_200_000,
             macs_conv=14_600_000_000)
    make_run(tmp_path, "I3D-ResNet18-f8", ds, top1=100 * i3d.mean(), correct=i3d, params=33_200_000,
             macs_conv=43_200_000_000)
    make_run(tmp_path, "TSM-ResNet18-f8", ds, top1=100 * tsm.mean(), correct=tsm, params=11_200_000,
             macs_conv=14_600_000_000)
    make_run(tmp_path, "TAM-ResNet18-tp-f8", ds, top1=45.0)  # no predictions saved
    return tmp_path


def test_compare_matched_settings(runs):
    table = collect(runs)
    c = compare_modules(table, "TAM", ["I3D", "TSM", "S3D"], resamples=2000)
    assert c.attrs["absent"] == ["S3D"]
    by = c.set_index(["tp", "against"])
    i3d = by.loc[(False, "I3D")]
    assert i3d["diff"] == pytest.approx(100 * (90 - 10) / 600)
    assert i3d["ci_low"] > 0 and i3d["verdict"].startswith("significant: better")
    # the bootstrap's own difference (per-video predictions) is reported and lies inside its CI
    assert i3d["pred_diff"] == pytest.approx(100 * (90 - 10) / 600)
    assert i3d["ci_low"] <= i3d["pred_diff"] <= i3d["ci_high"]
    assert i3d["params_ratio"] == pytest.approx(11.2 / 33.2)
    assert i3d["macs_ratio"] == pytest.approx(14.6 / 43.2)
    assert i3d["n_videos"] == 600
    assert i3d["phi"] == pytest.approx(40.0 / i3d["top1"])
    tsm = by.loc[(False, "TSM")]
    assert tsm["diff"] == pytest.approx(0.0) and tsm["ci_low"] < 0 < tsm["ci_high"]
    assert tsm["verdict"].startswith("NOT significant")
    # TAM-tp has no matched I3D/TSM run: said so, not dropped
    assert by.loc[(True, "I3D")]["verdict"] == "no finished I3D run at this setting"


def test_cli_compare_states_significance(runs, capsys):
    assert main(["compare", str(runs), "--module", "TAM", "--against", "I3D,TSM", "--resamples", "1000"]) == 0
    out = capsys.readouterr().out
    assert "TAM" in out and "significant: better" in out and "NOT significant" in out
    assert main(["compare", str(runs), "--module", "NEW", "--against", "I3D"]) == 2


def test_paired_correctness_matches_videos_by_index(tmp_path):
    a = make_run(tmp_path, "TAM-ResNet18-f8", "d", correct=[1, 1, 0, 0])
    b = make_run(tmp_path, "I3D-ResNet18-f8", "d", correct=[1, 0, 1])
    x, y = paired_correctness([a], [b])
    assert list(x) == [1, 1, 0] and list(y) == [1, 0, 1]
    (b / "predictions.csv").write_text("index,video\n0,a\n")
    with pytest.raises(DataError, match="missing column"):
        paired_correctness([a], [b])
