import json

import pandas as pd
import pytest
from test_analysis_fixtures import make_run, write_state

from benchmark.analysis.collect import COLUMNS, collect, find_run_dirs
from benchmark.cli import main
from benchmark.errors import DataError


@pytest.fixture()
def results(tmp_path):
    root = tmp_path / "results"
    make_run(root, "TSN-ResNet18-f8", "synthetic-temporal", top1=40.0, params=11_181_642)
    make_run(root, "TAM-ResNet18-f8", "synthetic-temporal", "running")
    make_run(root, "I3D-ResNet18-f8", "synthetic-temporal", "failed", reason="CUDA out of memory")
    make_run(root, "TSM-ResNet18-f8", "synthetic-temporal", "pending")
    # result.json being written when the reader looks (not atomic, e.g. copied by hand): torn JSON
    torn = make_run(root, "TSN-ResNet18-tp-f8", "synthetic-temporal", "running")
    (torn / "result.json").write_text('{"schema_version": 1, "run_id": "synthetic-tem')
    # state.json torn, no result yet
    bad_state = make_run(root, "TAM-ResNet18-tp-f8", "synthetic-temporal", "running")
    (bad_state / "state.json").write_text('{"state": "runn')
    # a finished run whose state.json still says running: result.json decides
    late = make_run(root, "I3D-ResNet18-tp-f8", "synthetic-temporal", top1=55.5)
    write_state(late, "running", epoch=1)
    (late / "checkpoints").mkdir()
    (late / "checkpoints" / "state.json").write_text("{}")  # not a run directory of its own
    # config.yaml unreadable, run only known by its directory name
    lost = make_run(root, "S3D-ResNet18-f8", "synthetic-temporal", "failed", reason="node lost")
    (lost / "config.yaml").write_text("model: [unclosed")
    # config.yaml cut inside a UTF-8 character (a copy interrupted mid-write)
    cut = make_run(root, "TSM-ResNet18-tp-f8", "synthetic-temporal", "running")
    (cut / "config.yaml").write_bytes("model: TSM-ResNet18-tp-f8\nnote: é".encode()[:-1])
    # a complete architecture (no backbone) still running: named by the registry, not by splitting
    make_run(root, "VoV3D-M-f16", "synthetic-temporal", "running")
    # torn last line of metrics.jsonl while running
    with open(root / "synthetic-temporal" / "TAM-ResNet18-f8" / "metrics.jsonl", "a") as fh:
        fh.write('{"epoch": 3, "lr"')
    return root


def test_collect_folder_states_and_reasons(results):
    table = collect(results).set_index("model")
    assert list(collect(results).columns) == COLUMNS
    assert len(table) == 10
    assert table.loc["TSM-ResNet18-tp-f8", "state"] == "running"
    assert "config.yaml: unreadable" in table.loc["TSM-ResNet18-tp-f8", "reason"]
    vov = table.loc["VoV3D-M-f16"]
    assert (vov["module"], vov["backbone"], vov["frames"], vov["state"]) == ("VoV3D-M", None, 16, "running")
    assert table.loc["S3D-ResNet18-f8", "state"] == "failed"
    assert "config.yaml: unreadable" in table.loc["S3D-ResNet18-f8", "reason"]
    assert table.loc["S3D-ResNet18-f8", "module"] == "S3D"
    assert table.loc["TSN-ResNet18-f8", "state"] == "done"
    assert table.loc["TSN-ResNet18-f8", "top1"] == 40.0
    assert table.loc["TSN-ResNet18-f8", "params"] == 11_181_642
    assert table.loc["TSN-ResNet18-f8", "throughput"] == 42.0
    assert table.loc["TAM-ResNet18-f8", "state"] == "running"
    assert table.loc["I3D-ResNet18-f8", "state"] == "failed"
    assert table.loc["I3D-ResNet18-f8", "reason"] == "CUDA out of memory"
    assert table.loc["TSM-ResNet18-f8", "state"] == "pending"
    assert table.loc["TSM-ResNet18-f8", "module"] == "TSM"  # identity from config.yaml
    assert table.loc["TSN-ResNet18-tp-f8", "state"] == "running"
    assert "result.json: invalid JSON" in table.loc["TSN-ResNet18-tp-f8", "reason"]
    assert table.loc["TAM-ResNet18-tp-f8", "state"] == "pending"  # the documented rule for an unreadable state
    assert "state.json: invalid JSON" in table.loc["TAM-ResNet18-tp-f8", "reason"]
    assert table.loc["I3D-ResNet18-tp-f8", "state"] == "done"
    assert table.loc["I3D-ResNet18-tp-f8", "top1"] == 55.5
    assert bool(table.loc["I3D-ResNet18-tp-f8", "tp"]) is True
    # only finished runs carry accuracies
    assert table[table.state != "done"].top1.isna().all()


def test_find_run_dirs_does_not_descend_into_runs(results):
    dirs = find_run_dirs(results)
    assert len(dirs) == 10 and not any(d.name == "checkpoints" for d in dirs)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_cli_collect_writes_csv_and_parquet(results, tmp_path, suffix, capsys):
    out = tmp_path / f"runs{suffix}"
    assert main(["collect", str(results), "--out", str(out)]) == 0
    assert "10 runs" in capsys.readouterr().out
    back = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert len(back) == 10 and list(back.columns) == COLUMNS
    assert sorted(back.state) == ["done", "done", "failed", "failed", "pending", "pending"] + ["running"] * 4
    # a written table is itself a source
    again = collect(out)
    assert again.set_index("model").loc["I3D-ResNet18-tp-f8", "top1"] == 55.5


def test_collect_reference_and_errors(tmp_path):
    ref = collect("paper-mini")
    assert len(ref) == 288 and (ref.state == "done").all()
    assert ref.macs_conv.notna().all() and ref.macs_all.isna().all()
    with pytest.raises(DataError, match="not a results source"):
        collect(tmp_path / "nope")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="missing column"):
        collect(bad)
    assert main(["collect", "--reference", "paper-typo"]) == 2


@pytest.mark.slow  # imports the grid, engine and data layers
def test_collect_experiment_lists_planned_runs(tmp_path):
    grid = pytest.importorskip("benchmark.grid.spec")
    spec = tmp_path / "exp.yaml"
    spec.write_text(json.dumps({
        "name": "t", "datasets": ["synthetic-temporal"], "output": str(tmp_path / "out"),
        "axes": {"modules": ["TSN", "TAM"], "backbones": ["ResNet18"], "frames": [8]},
    }))
    experiment = grid.load_experiment(spec)
    runs = experiment.runs()
    # finish the TSN run by hand, leave the TAM run unstarted
    tsn = next(r for r in runs if r.cell["module"] == "TSN")
    make_run(tmp_path / "elsewhere", "TSN-ResNet18-f8", "synthetic-temporal", top1=33.0)
    tsn.run_dir.parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "elsewhere" / "synthetic-temporal" / "TSN-ResNet18-f8").rename(tsn.run_dir)
    table = collect(spec).set_index("module")
    assert table.loc["TSN", "state"] == "done" and table.loc["TSN", "top1"] == 33.0
    assert table.loc["TAM", "state"] == "pending" and table.loc["TAM", "dataset"] == "synthetic-temporal"


def test_a_module_not_registered_here_is_read_by_the_naming_rule(tmp_path):
    """Results of a plugin module collected in a shell without the plugin: its name is still split
    by the naming rule ({module}-{backbone}[-tp]-f{frames}) instead of being dropped."""
    make_run(tmp_path, "MyNet-ResNet18-tp-f8", "synthetic-temporal", "running")
    lost = make_run(tmp_path, "OtherNet-ResNet50-f16", "synthetic-temporal", "failed", reason="boom")
    (lost / "config.yaml").write_text("model: [unclosed")  # known only by its directory's name
    table = collect(tmp_path).set_index("model")
    mine = table.loc["MyNet-ResNet18-tp-f8"]
    assert (mine["module"], mine["backbone"], bool(mine["tp"]), mine["frames"]) == ("MyNet", "ResNet18", True, 8)
    other = table.loc["OtherNet-ResNet50-f16"]
    assert (other["module"], other["backbone"], bool(other["tp"]), other["frames"]) == ("OtherNet", "ResNet50", False, 16)
    assert other["state"] == "failed" and other["reason"].startswith("boom; config.yaml: unreadable")
