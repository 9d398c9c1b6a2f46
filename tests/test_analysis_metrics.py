import json
import math

import pandas as pd
import pytest
from test_analysis_fixtures import make_run

from benchmark.analysis.collect import collect
from benchmark.analysis.phi_psi import compare_with_table7, model_metrics, phi, psi, summarize
from benchmark.cli import main


def test_eq1_by_hand():
    assert phi(60.0, 40.0) == pytest.approx(40 / 60)
    assert psi(60.0, 40.0) == pytest.approx(20 / 60)
    assert phi(30.0, 40.0) == 1.0  # worse than TSN: spatial contribution saturates at 1
    assert psi(30.0, 40.0) == pytest.approx(-10 / 60)  # temporal modelling that hurts is negative
    assert math.isnan(psi(55.8, 100.0)) and math.isnan(psi(100.0, 100.0))  # no headroom: undefined, not -inf


def test_averages_missing_cells_and_seeds(tmp_path):
    ds = "synthetic-temporal"
    make_run(tmp_path, "TSN-ResNet18-f8", ds, top1=40.0)
    make_run(tmp_path, "TSN-ResNet18-f16", ds, top1=50.0)
    make_run(tmp_path, "TAM-ResNet18-f8", ds, top1=60.0)
    make_run(tmp_path, "TAM-ResNet18-f8", ds, top1=70.0, seed=1)  # seeds averaged: 65
    make_run(tmp_path, "TAM-ResNet18-f16", ds, top1=75.0)
    make_run(tmp_path, "TAM-ResNet18-tp-f8", ds, top1=30.0)
    make_run(tmp_path, "TAM-ResNet18-tp-f16", ds, "failed", reason="diverged")
    make_run(tmp_path, "TSM-ResNet18-f8", ds, top1=52.0)
    make_run(tmp_path, "TSN-ResNet50-f8", ds, "running")
    make_run(tmp_path, "TSM-ResNet50-f8", ds, top1=44.0)  # baseline not finished
    summary = summarize(collect(tmp_path)).set_index("module")

    tam = summary.loc["TAM"]
    assert tam.phi == pytest.approx((40 / 65 + 50 / 75) / 2)
    assert tam.psi_ta == pytest.approx((25 / 60 + 25 / 50) / 2)
    assert tam.psi_ta_tp == pytest.approx(-10 / 60)
    assert (tam.n, tam.n_tp) == (2, 1)
    assert "TAM-ResNet18-tp-f16: failed" in tam.missing
    assert "TAM-ResNet50-f8: no run" in tam.missing

    tsm = summary.loc["TSM"]
    assert tsm.psi_ta == pytest.approx(12 / 60) and tsm.n == 1
    assert "TSM-ResNet50-f8: no finished TSN-ResNet50-f8 baseline" in tsm.missing
    assert "TSM-ResNet18-f16: no run" in tsm.missing

    tsn = summary.loc["TSN"]
    assert tsn.phi == 1.0 and tsn.psi_ta == 0.0
    assert "TSN-ResNet50-f8: running" in tsn.missing


def test_per_model_metrics_use_tsn_without_tp_as_baseline():
    table = model_metrics(collect("paper-mini")).set_index(["dataset", "module", "backbone", "tp", "frames"])
    row = table.loc[("mini-ssv2", "TAM", "ResNet50", True, 8)]
    # values from ibm_benchmark_mini.md: TAM-R50-tp-f8 54.5216, TSN-R50-f8 33.9351
    assert row.tsn_top1 == 33.9351
    assert row.psi == pytest.approx((54.5216 - 33.9351) / (100 - 33.9351))
    assert row.phi == pytest.approx(33.9351 / 54.5216)


# The I3D and S3D values of these printed cells are each other's computed values (see the test).
EXPECTED_MISMATCHES = {
    ("mini-ssv2", "psi_ta", "I3D"), ("mini-ssv2", "psi_ta", "S3D"),
    ("mini-kinetics", "psi_ta", "I3D"), ("mini-kinetics", "psi_ta", "S3D"),
    ("mini-mit", "phi", "I3D"), ("mini-mit", "phi", "S3D"),
    ("mini-mit", "psi_ta", "I3D"), ("mini-mit", "psi_ta", "S3D"),
}


def test_table7_from_the_shipped_reference_against_the_printed_table():
    """Acceptance: Eq. 1–2 applied literally to the 288 published runs vs the paper's printed Table 7."""
    summary = summarize(collect("paper-mini"))
    check = compare_with_table7(summary)
    assert len(check) == 27 and check.computed.notna().all()
    assert (summary.set_index("module").loc[["I3D", "S3D", "TAM"], ["n", "n_tp"]] == 12).all().all()
    matching = check[check.matches]
    for cell in matching.itertuples():  # every matching cell, asserted to two decimals
        assert abs(cell.computed - cell.printed) <= 0.005 + 1e-9, cell
    mismatches = check[~check.matches]
    report = "\n".join(f"{r.dataset} {r.metric} {r.module}: printed {r.printed:.2f}, computed {r.computed:.4f} "
                       f"-- {r.likely_cause}" for r in mismatches.itertuples())
    print("Table 7 cells that do not match:\n" + report)
    assert set(zip(mismatches.dataset, mismatches.metric, mismatches.module)) == EXPECTED_MISMATCHES, report
    assert len(matching) == 19
    # the likely cause is checked, not assumed: swapping I3D and S3D reproduces every printed value
    by = check.set_index(["dataset", "metric", "module"])
    for dataset, metric, module in EXPECTED_MISMATCHES:
        other = "S3D" if module == "I3D" else "I3D"
        assert round(by.loc[(dataset, metric, other), "computed"], 2) == pytest.approx(by.loc[(dataset, metric, module), "printed"])
        assert "swapped" in by.loc[(dataset, metric, module), "likely_cause"]


def test_cli_metrics_formats(capsys):
    assert main(["metrics", "paper-mini", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {"dataset", "module", "phi", "psi_ta", "psi_ta_tp", "n"} <= set(records[0])
    tam = next(r for r in records if r["dataset"] == "mini-ssv2" and r["module"] == "TAM")
    assert round(tam["phi"], 2) == 0.52 and round(tam["psi_ta_tp"], 2) == 0.37 and tam["n"] == 12
    assert main(["metrics", "--reference", "paper-mini", "--format", "csv"]) == 0
    from io import StringIO

    csv = pd.read_csv(StringIO(capsys.readouterr().out))
    assert len(csv) == 12
    assert main(["metrics", "--reference", "paper-mini"]) == 0
    out = capsys.readouterr().out
    assert "Ψ̄^ta" in out and "mini-mit" in out


def test_uncomputable_cells_are_null_in_json_and_explained(tmp_path, capsys):
    ds = "synthetic-temporal"
    make_run(tmp_path, "TSN-ResNet18-f8", ds, top1=30.0)
    run = make_run(tmp_path, "TAM-ResNet18-f8", ds, top1=40.0)
    arch = tmp_path / ds / "VoV3D-M-f16"  # a complete architecture: no backbone, so no TSN baseline
    arch.mkdir()
    record = json.loads((run / "result.json").read_text())
    record.update(model="VoV3D-M-f16", module="VoV3D-M", backbone=None, frames=16)
    (arch / "result.json").write_text(json.dumps(record))
    assert main(["metrics", str(tmp_path), "--format", "json"]) == 0
    records = {r["module"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["VoV3D-M"]["phi"] is None and records["VoV3D-M"]["n"] == 0
    assert records["VoV3D-M"]["missing"] == ["VoV3D-M-f16: no backbone, so no TSN baseline"]
    assert records["TAM"]["psi_ta"] == pytest.approx(10 / 70) and records["TAM"]["psi_ta_tp"] is None
    assert main(["metrics", str(tmp_path / "synthetic-temporal" / "TSN-ResNet18-f8" / "nothing")]) == 2


def test_an_experiment_expects_only_its_planned_cells(tmp_path):
    """A folder is judged against the full cross product; an experiment (which may exclude cells on
    purpose, like the quickstart's tp-only-for-TSN) only against its planned runs."""
    for model, top1 in (("TSN-ResNet18-f8", 30.0), ("TSN-ResNet18-tp-f8", 50.0), ("TAM-ResNet18-f8", 90.0)):
        make_run(tmp_path, model, "synthetic-temporal", top1=top1)
    table = collect(tmp_path)
    tam = summarize(table).set_index("module").loc["TAM"]
    assert tam["missing"] == ["TAM-ResNet18-tp-f8: no run"]
    table.attrs["planned"] = True
    tam = summarize(table).set_index("module").loc["TAM"]
    assert tam["missing"] == [] and tam["psi_ta"] == pytest.approx((90 - 30) / 70)


def test_table_psi_is_undefined_without_headroom_and_warns_nothing(tmp_path):
    import warnings

    ds = "synthetic-spatial"
    make_run(tmp_path, "TSN-ResNet18-f8", ds, top1=100.0)
    make_run(tmp_path, "I3D-ResNet18-f8", ds, top1=55.0)
    make_run(tmp_path, "TSN-ResNet18-tp-f8", ds, top1=98.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the quickstart printed numpy's divide-by-zero warning
        metrics = model_metrics(collect(tmp_path)).set_index(["module", "tp"])
    assert metrics["psi"].isna().all()  # as psi(): NaN, not -inf
    assert metrics.loc[("I3D", False), "phi"] == 1.0
