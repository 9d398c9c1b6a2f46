import numpy as np
import pandas as pd
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


def _edit_result(run, **changes):
    import json

    record = json.loads((run / "result.json").read_text())
    for key, value in changes.items():
        if value is None:
            record.pop(key)
        else:
            record[key] = value
    (run / "result.json").write_text(json.dumps(record))


def test_a_verdict_only_where_data_and_protocol_match(tmp_path, capsys):
    """TAM on a copy of the val set that lost 10 videos, TSM under another protocol, I3D from an
    older stbench: no verdict for any of them, each saying what differs; --allow names a difference
    compared across on purpose."""
    import json

    ds = "synthetic-temporal"
    tam, i3d = _paired(600, a_only=90, b_only=10, seed=1)
    make_run(tmp_path, "TSN-ResNet18-f8", ds, top1=40.0)
    a = make_run(tmp_path, "TAM-ResNet18-f8", ds, top1=100 * tam[10:].mean(), correct=tam[10:])
    record = json.loads((a / "result.json").read_text())
    record["data"]["val"] = {"videos": 590, "fingerprint": "val-lost-10", "malformed": 0, "skipped": None}
    _edit_result(a, data=record["data"])
    # predictions.csv names the 590 videos it kept: v0010.mp4 ... (fixture names by position)
    rows = (a / "predictions.csv").read_text().splitlines()
    (a / "predictions.csv").write_text("\n".join([rows[0]] + [r.replace(f"v{i:04d}", f"v{i + 10:04d}")
                                                              for i, r in enumerate(rows[1:])]) + "\n")
    b = make_run(tmp_path, "I3D-ResNet18-f8", ds, top1=100 * i3d.mean(), correct=i3d)
    _edit_result(b, data=None, protocol=None)  # an older record
    t = make_run(tmp_path, "TSM-ResNet18-f8", ds, top1=100 * tam.mean(), correct=tam)
    _edit_result(t, protocol={**record["protocol"], "test_views": "10x3", "fingerprint": "p1"})
    by = compare_modules(collect(tmp_path), "TAM", ["I3D", "TSM"], resamples=500).set_index("against")
    assert by.loc["I3D", "verdict"].startswith("no verdict: val sets unknown (a result.json older")
    tsm = by.loc["TSM"]
    assert tsm["verdict"].startswith("no verdict: val sets differ: 590 vs 600 videos, 0 only in A, 10 only in B")
    assert "protocols differ: test_views 1x1 vs 10x3" in tsm["verdict"] and pd.isna(tsm["ci_low"])
    allowed = compare_modules(collect(tmp_path), "TAM", ["TSM"], resamples=500, allow={"val", "protocol"}).iloc[0]
    assert "significant" in allowed["verdict"] and "compared across allowed differences: protocol, val" in allowed["verdict"]
    assert main(["compare", str(tmp_path), "--module", "TAM", "--against", "TSM", "--allow", "data,protocol",
                 "--resamples", "500"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("comparing across differences on purpose: classes, protocol, train, val (--allow)")
    assert "audit: val sets differ: 590 vs 600 videos" in out
    # views alone: TSM's views differ, but so does TAM's val set: still no verdict; against a TSM on the
    # same videos that differs only in its views, --allow views gives one
    views_only = compare_modules(collect(tmp_path), "TAM", ["TSM"], resamples=500, allow={"val", "protocol.test_views"})
    assert "significant" in views_only.iloc[0]["verdict"]
    no_views = compare_modules(collect(tmp_path), "TAM", ["TSM"], resamples=500, allow={"val"})
    assert no_views.iloc[0]["verdict"].startswith("no verdict: protocols differ: test_views 1x1 vs 10x3")
    assert main(["compare", str(tmp_path), "--module", "TAM", "--against", "TSM", "--allow", "val,views",
                 "--resamples", "500"]) == 0
    assert "significant" in capsys.readouterr().out.splitlines()[-1]
    assert main(["compare", str(tmp_path), "--module", "TAM", "--against", "TSM", "--allow", "colour"]) == 2
    assert "--allow: unknown dimension 'colour'" in capsys.readouterr().err


def test_the_report_names_the_runs_that_differ_from_the_rest_of_their_tables(tmp_path):
    import json

    ds = "synthetic-temporal"
    make_run(tmp_path, "TSN-ResNet18-f8", ds, top1=40.0)
    make_run(tmp_path, "TSM-ResNet18-f8", ds, top1=60.0)
    lost = make_run(tmp_path, "TAM-ResNet18-f8", ds, top1=61.0)
    record = json.loads((lost / "result.json").read_text())
    record["data"]["val"] = {"videos": 590, "fingerprint": "val-lost-10", "malformed": 0, "skipped": None}
    _edit_result(lost, data=record["data"])
    other = make_run(tmp_path, "I3D-ResNet18-f8", ds, top1=62.0)
    _edit_result(other, protocol={**record["protocol"], "test_views": "10x3", "fingerprint": "p1"})
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "rep")]) == 0
    text = (tmp_path / "rep" / "report.md").read_text()
    section = text[text.index("## Comparability of the runs"):].split("\n## ")[0]
    assert "| TAM-ResNet18-f8 | val set | 590 videos vs 600 in most runs |" in section
    assert "| I3D-ResNet18-f8 | protocol | another protocol than most f8 runs |" in section
    assert "TSN-ResNet18-f8" not in section and "TSM-ResNet18-f8" not in section
