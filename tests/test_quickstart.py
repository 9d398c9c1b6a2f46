"""End to end: a reduced ``stbench quickstart`` (tiny data, one epoch) through data → grid → local
launch → engine → analysis, checked against the run directories it wrote."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark.cli import main


@pytest.mark.slow
def test_reduced_quickstart_end_to_end(tmp_path, capsys):
    out = tmp_path / "qs"
    args = ["quickstart", "--out", str(out), "--train-clips", "48", "--val-clips", "24", "--epochs", "1",
            "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Report: " in printed and "The paper's findings" in printed

    # Every planned run finished and left a valid record.
    from benchmark.engine import validate_result

    results = {}
    for path in sorted((out / "runs").glob("*/*/result.json")):
        record = json.loads(path.read_text())
        validate_result(record)
        results[(record["dataset"], record["model"])] = record["top1"]
    models = ["TSN-ResNet18-f8", "TSN-ResNet18-tp-f8", "TAM-ResNet18-f8", "TSM-ResNet18-f8", "I3D-ResNet18-f8"]
    assert sorted(results) == sorted((d, m) for d in ("synthetic-temporal", "synthetic-spatial") for m in models)

    # Φ/Ψ equal Eq. 1 computed by hand from the result.json accuracies.
    assert main(["metrics", str(out / "results.csv"), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    for row in rows:
        dataset, module = row["dataset"], row["module"]
        tsn = results[(dataset, "TSN-ResNet18-f8")]
        if module == "TSN":
            tp = results[(dataset, "TSN-ResNet18-tp-f8")]
            assert row["psi_ta_tp"] == pytest.approx((tp - tsn) / (100 - tsn))
            continue
        s = results[(dataset, f"{module}-ResNet18-f8")]
        assert row["phi"] == pytest.approx(tsn / max(s, tsn))
        assert row["psi_ta"] == pytest.approx((s - tsn) / (100 - tsn))
        assert row["n"] == 1
    assert {(r["dataset"], r["module"]) for r in rows} == {
        (d, m) for d in ("synthetic-temporal", "synthetic-spatial") for m in ("TSN", "TAM", "TSM", "I3D")}

    # The report: accuracy table, Φ/Ψ, temporal-pooling gain, accuracy vs FLOPs; non-blank figures.
    report = out / "report"
    assert (report / "index.html").stat().st_size > 0 and (report / "report.md").stat().st_size > 0
    written = json.loads((report / "report.json").read_text())
    assert {"figures/accuracy_vs_macs.png", "figures/tp_gains.png"} <= set(written["figures"])
    assert {"tables/accuracy.csv", "tables/table7_phi_psi.csv", "tables/tp_gains.csv"} <= set(written["tables"])
    import pandas as pd

    phi_psi = pd.read_csv(report / "tables" / "table7_phi_psi.csv")
    tam = phi_psi[(phi_psi["dataset"] == "synthetic-temporal") & (phi_psi["module"] == "TAM")]
    tsn = results[("synthetic-temporal", "TSN-ResNet18-f8")]
    s = results[("synthetic-temporal", "TAM-ResNet18-f8")]
    assert tam["psi_ta"].iloc[0] == pytest.approx((s - tsn) / (100 - tsn))
    figures = [report / f for f in written["figures"]]
    from matplotlib.image import imread

    for fig in figures:
        pixels = imread(fig)
        assert np.ptp(pixels[..., :3]) > 0.1, f"{fig.name} is blank"
    html = (report / "index.html").read_text()
    assert "Φ" in html or "&Phi;" in html or "phi" in html.lower()

    # Re-running reuses every finished run: nothing is trained again.
    mtimes = {p: p.stat().st_mtime for p in (out / "runs").glob("*/*/result.json")}
    assert main(args) == 0
    assert "submitted 0, skipped 10 done" in capsys.readouterr().out
    assert all(p.stat().st_mtime == t for p, t in mtimes.items())

    # Other settings would silently reuse runs made with the old ones: refused, --fresh starts over
    # and deletes only what the quickstart wrote.
    (out / "notes.txt").write_text("mine")
    assert main(args[:-3] + ["--epochs", "2", "--no-progress"]) == 2
    assert "pass --fresh" in capsys.readouterr().err
    assert main(args + ["--fresh"]) == 0
    assert "submitted 10, skipped 0 done" in capsys.readouterr().out
    assert (out / "notes.txt").read_text() == "mine"
    assert all(p.stat().st_mtime > t for p, t in mtimes.items())
