"""End to end: a reduced ``stbench quickstart`` (tiny data: one step of 16 clips, one epoch) through
data → grid → local launch → engine → analysis, checked against the run directories it wrote.

This is the suite's one quickstart of the shipped experiment as it is (its ten ResNet18 runs);
``--fresh`` starts over with the experiment cut to TSN on the test-only TinyResNet, and the wheel's
quickstart (tests/test_package_install.py) trains that cut too.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import TINY

from benchmark.cli import main
from benchmark.package_data import find_yaml

# The least a quickstart can be given: one step of the experiment's batch of 16 clips.
TINY_DATA = ["--train-clips", "16", "--val-clips", "4", "--epochs", "1", "--no-progress"]


def tiny_quickstart(folder: Path, shipped: Path | None = None) -> Path:
    """The shipped quickstart experiment (or the file ``shipped``) cut to TSN without temporal
    pooling (one run per synthetic dataset) on the test-only TinyResNet."""
    spec = yaml.safe_load((shipped or find_yaml("quickstart", "experiments")).read_text())
    assert spec["axes"]["backbones"] == ["ResNet18"] and "TSN" in spec["axes"]["modules"]
    spec["axes"].update(backbones=[TINY], modules=["TSN"], tp=[False])
    path = folder / "quickstart-tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture()
def without_checkpoints(monkeypatch):
    """Each quickstart run's checkpoints are deleted once the run is done (after checking they were
    written): the ten ResNet18 runs' checkpoints take 1.9 GB, and the rest of the test reads
    records only. The runs' ``result.json`` still make them done for a relaunch."""
    import benchmark.cli.quickstart as cli

    original, finished = cli.run_progress, []

    def progress(runs, *args, **kwargs):
        on_event = original(runs, *args, **kwargs)
        dirs = {r.run_id: r.run_dir for r in runs}

        def event(kind, run_id, detail):
            on_event(kind, run_id, detail)
            if kind == "done":
                checkpoints = dirs[run_id] / "checkpoints"
                assert {p.name for p in checkpoints.iterdir()} >= {"best.pt", "last.pt"}
                shutil.rmtree(checkpoints)
                finished.append(run_id)

        return event

    monkeypatch.setattr(cli, "run_progress", progress)
    return finished


@pytest.mark.slow
def test_reduced_quickstart_end_to_end(tmp_path, capsys, without_checkpoints):
    out = tmp_path / "qs"
    args = ["quickstart", "--out", str(out), "--train-clips", "16", "--val-clips", "8", "--epochs", "1",
            "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Report: " in printed and "The paper's findings" in printed
    assert len(without_checkpoints) == 10  # each run was done, with its checkpoints written

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
        undefined = any("Ψ undefined: TSN leaves" in m for m in row.get("missing", []))
        if undefined:  # TSN's headroom within the noise (the spatial set): Ψ is not measured, and says so
            assert tsn > 95
        if module == "TSN":
            tp = results[(dataset, "TSN-ResNet18-tp-f8")]
            assert row["psi_ta_tp"] is None if undefined else row["psi_ta_tp"] == pytest.approx((tp - tsn) / (100 - tsn))
            continue
        s = results[(dataset, f"{module}-ResNet18-f8")]
        assert row["phi"] == pytest.approx(tsn / max(s, tsn))
        assert row["psi_ta"] is None if undefined else row["psi_ta"] == pytest.approx((s - tsn) / (100 - tsn))
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
    # and deletes only what the quickstart wrote. (It starts over with the experiment cut to TSN on
    # the test network and fewer validation clips: the old runs' directories, named by their
    # ResNet18 models, and the old data must be gone.)
    (out / "notes.txt").write_text("mine")
    assert main(args[:-3] + ["--epochs", "2", "--no-progress"]) == 2
    assert "pass --fresh" in capsys.readouterr().err
    fresh = ["quickstart", "--out", str(out), "--experiment", str(tiny_quickstart(tmp_path)), *TINY_DATA]
    assert main(fresh) == 2  # another experiment is other settings too
    assert "pass --fresh" in capsys.readouterr().err
    assert main(fresh + ["--fresh"]) == 0
    assert "submitted 2, skipped 0 done" in capsys.readouterr().out
    assert (out / "notes.txt").read_text() == "mine"
    assert not any(p.exists() for p in mtimes)  # the old runs were deleted, not reused
    again = sorted((out / "runs").glob("*/*/result.json"))
    assert [json.loads(p.read_text())["model"] for p in again] == [f"TSN-{TINY}-f8"] * 2
    settings = json.loads((out / "quickstart.json").read_text())
    assert settings["experiment"].endswith("quickstart-tiny.yaml") and settings["data"]["val_clips"] == 4
    assert len(list((out / "data" / "synthetic-temporal" / "frames" / "val").iterdir())) == 4
