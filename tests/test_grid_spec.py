"""Experiment specs and planning: the paper's 288-run grid against the official run list, strict
validation, precedence of settings, progressive chains, the compute estimate and ``stbench plan``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from benchmark.cli import main
from benchmark.errors import ConfigError
from benchmark.grid import experiment_from_dict, load_experiment, paper_mini_grid
from benchmark.grid.estimate import PAPER_TRAIN_VIDEOS, estimate

REPO = Path(__file__).resolve().parents[1]
PAPER_YAML = REPO / "experiments" / "paper_mini_grid.yaml"
REFERENCE = REPO / "results" / "reference" / "paper_mini_grid.csv"


@pytest.fixture(scope="module")
def paper_runs():
    return load_experiment(PAPER_YAML).runs()


def test_paper_grid_has_288_runs_and_216_dependencies(paper_runs):
    exp = load_experiment(PAPER_YAML)
    assert len(paper_runs) == 288
    assert len(exp.dependencies()) == 216
    assert len({r.run_id for r in paper_runs}) == 288
    assert len({r.run_dir for r in paper_runs}) == 288


def test_paper_grid_is_the_official_run_list(paper_runs):
    """Independent truth: the 288 (dataset, model) pairs of the official results table."""
    ref = pd.read_csv(REFERENCE)
    official = set(zip(ref["dataset"], ref["model"]))
    planned = {(r.cell["dataset"], r.config["model"]) for r in paper_runs}
    assert planned == official
    # Table 12 epochs: the official runs used them too, except a few 64-frame runs stopped early.
    ref_epochs = {(d, m): e for d, m, e in zip(ref["dataset"], ref["model"], ref["epochs"])}
    differ = [(r.run_id, r.config["epochs"], ref_epochs[(r.cell["dataset"], r.config["model"])])
              for r in paper_runs if r.config["epochs"] != ref_epochs[(r.cell["dataset"], r.config["model"])]]
    assert len(differ) == 2 and all(run_id.endswith("-f64") for run_id, _, _ in differ), differ


def test_paper_grid_protocol_and_chains(paper_runs):
    by_id = {r.run_id: r for r in paper_runs}
    f8 = by_id["mini-ssv2/TAM-ResNet50-f8"]
    assert f8.depends_on == [] and f8.config["pretrained"] == "imagenet" and f8.config["init_from"] is None
    assert (f8.config["epochs"], f8.config["schedule"]["name"]) == (75, "cosine")
    assert f8.config["optim"]["lr"] == 0.01 and f8.config["optim"]["weight_decay"] == 5e-4
    f16 = by_id["mini-ssv2/TAM-ResNet50-f16"]
    assert f16.depends_on == [f8.run_id] and f16.config["init_from"] == str(f8.run_dir)
    assert f16.config["pretrained"] is None
    assert f16.config["schedule"] == {"name": "multistep", "milestones": [10, 20, 30], "gamma": 0.1,
                                      "warmup_epochs": 0, "warmup_start_lr": None}
    k16 = by_id["mini-kinetics/I3D-InceptionV1-tp-f16"]
    assert k16.config["epochs"] == 45 and k16.config["schedule"]["milestones"] == [15, 30, 40]
    assert by_id["mini-kinetics/I3D-InceptionV1-tp-f8"].config["epochs"] == 100
    assert by_id["mini-mit/S3D-ResNet18-f64"].depends_on == ["mini-mit/S3D-ResNet18-f32"]
    # Dataset class counts (paper Table 11).
    assert {r.cell["dataset"]: r.config["dataset"]["num_classes"] for r in paper_runs} == {
        "mini-ssv2": 87, "mini-kinetics": 200, "mini-mit": 200}
    # Batch sizes: protocol for 64 frames, a per-cell override for 3D ResNet-50 at 32 frames.
    assert by_id["mini-mit/TSN-ResNet18-f64"].config["batch_size"] == 36
    assert by_id["mini-mit/TSN-ResNet18-f64"].config["sync_bn"] is True
    assert by_id["mini-ssv2/I3D-ResNet50-f32"].config["batch_size"] == 36
    assert by_id["mini-ssv2/TAM-ResNet50-f32"].config["batch_size"] == 72
    # Each chain's runs come in order: a run is planned after the run it depends on.
    position = {r.run_id: i for i, r in enumerate(paper_runs)}
    assert all(position[up] < position[r.run_id] for r in paper_runs for up in r.depends_on)


def test_yaml_and_library_grid_are_the_same(tmp_path):
    from_yaml = load_experiment(PAPER_YAML).runs()
    from_lib = paper_mini_grid().runs()
    assert [(r.run_id, r.config, r.depends_on) for r in from_yaml] == [
        (r.run_id, r.config, r.depends_on) for r in from_lib]


def _spec(**changes) -> dict:
    spec = {
        "name": "t", "output": "out", "datasets": ["synthetic-temporal"],
        "axes": {"modules": ["TSN", "TAM"], "backbones": ["ResNet18"], "frames": [8, 16]},
        "run": {"pretrained": None, "epochs": 4},
    }
    spec.update(changes)
    return spec


def _runs(spec, tmp_path):
    return {r.run_id: r for r in experiment_from_dict(spec, source="t.yaml", base=tmp_path).runs()}


def test_precedence_run_protocol_axis_override(tmp_path):
    spec = _spec(
        axes={"modules": ["TSN", "TAM"], "backbones": ["ResNet18"], "frames": [8, 16],
              "options": {"batch_size": [4, 6]}},
        run={"pretrained": None, "epochs": 4, "batch_size": 2, "optim": {"lr": 0.1, "momentum": 0.8}},
        protocol={16: {"epochs": 3, "optim": {"lr": 0.05}}},
        overrides=[{"match": {"module": "TAM", "frames": 16, "batch_size": 6}, "set": {"epochs": 1}}],
    )
    runs = _runs(spec, tmp_path)
    assert len(runs) == 8
    a = runs["synthetic-temporal/TSN-ResNet18-f8-batch_size4"]
    assert (a.config["epochs"], a.config["batch_size"], a.config["optim"]["lr"]) == (4, 4, 0.1)
    b = runs["synthetic-temporal/TSN-ResNet18-f16-batch_size6"]
    # protocol[16] beats run; nested keys merge (momentum kept); the axis beats run's batch size.
    assert (b.config["epochs"], b.config["optim"]["lr"], b.config["optim"]["momentum"]) == (3, 0.05, 0.8)
    assert b.config["batch_size"] == 6
    assert runs["synthetic-temporal/TAM-ResNet18-f16-batch_size6"].config["epochs"] == 1
    assert runs["synthetic-temporal/TAM-ResNet18-f16-batch_size4"].config["epochs"] == 3
    # Chains stay within their option values.
    assert b.depends_on == ["synthetic-temporal/TSN-ResNet18-f8-batch_size6"]
    assert b.run_dir == (tmp_path / "out" / "synthetic-temporal" / "TSN-ResNet18-f16-batch_size6")


def test_exclude_leaves_out_matching_cells(tmp_path):
    spec = _spec(axes={"modules": ["TSN", "TAM"], "backbones": ["ResNet18"], "tp": [False, True],
                       "frames": [8, 16]},
                 exclude=[{"module": "TAM", "tp": True}, {"module": "TSN", "frames": 8, "tp": False}])
    runs = _runs(spec, tmp_path)
    assert sorted(runs) == sorted(f"synthetic-temporal/{m}" for m in (
        "TSN-ResNet18-f16", "TSN-ResNet18-tp-f8", "TSN-ResNet18-tp-f16", "TAM-ResNet18-f8", "TAM-ResNet18-f16"))
    # The excluded upstream of TSN-f16 is not waited for.
    assert runs["synthetic-temporal/TSN-ResNet18-f16"].depends_on == []
    assert runs["synthetic-temporal/TSN-ResNet18-tp-f16"].depends_on == ["synthetic-temporal/TSN-ResNet18-tp-f8"]
    with pytest.raises(ConfigError, match=r"exclude\[0\]: unknown key 'modul'.*valid keys"):
        _runs(_spec(exclude=[{"modul": "TAM"}]), tmp_path)


def test_seeds_and_non_progressive(tmp_path):
    runs = _runs(_spec(axes={"modules": ["TSN"], "backbones": ["ResNet18"], "frames": [8, 16],
                             "seeds": [0, 1]}, progressive=False), tmp_path)
    assert sorted(runs) == [f"synthetic-temporal/TSN-ResNet18-f{f}-seed{s}" for f in (16, 8) for s in (0, 1)]
    assert all(not r.depends_on and r.config["init_from"] is None for r in runs.values())
    assert runs["synthetic-temporal/TSN-ResNet18-f8-seed1"].config["seed"] == 1


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"axis": {}}, "unknown key 'axis'; did you mean 'axes'?"),
        ({"axes": {"modules": ["TXM"], "backbones": ["ResNet18"]}}, "axes.modules[0]: invalid value 'TXM'"),
        ({"axes": {"modules": ["TSN"], "backbones": ["ResNet5"]}}, "axes.backbones[0]: invalid value 'ResNet5'"),
        ({"axes": {"modules": ["TSN"], "backbones": ["ResNet18"], "frames": [8, 32]}},
         "32-frame run from the 16-frame run"),
        ({"run": {"epoch": 3}}, "run: unknown key 'epoch'; did you mean 'epochs'?"),
        ({"run": {"model": "TSN-ResNet18-f8"}}, "run: unknown key 'model'"),
        ({"overrides": [{"match": {"modul": "TSN"}, "set": {}}]}, "overrides[0].match: unknown key 'modul'"),
        ({"protocol": {16: {"epochs": "many"}}}, "run synthetic-temporal/TSN-ResNet18-f16"),
        ({"datasets": ["mini-nothing"]}, "unknown dataset preset 'mini-nothing'"),
        # a run's seed is its cell's (axes.seeds): a seed anywhere else would be silently replaced
        ({"run": {"seed": 3}}, "run.seed: a grid's seeds come from axes.seeds (e.g. axes: {seeds: [3]})"),
        ({"protocol": {16: {"seed": 1}}}, "protocol.16.seed: a grid's seeds come from axes.seeds"),
        ({"overrides": [{"match": {"module": "TSN"}, "set": {"seed": 2}}]}, "overrides[0].set.seed"),
        ({"axes": {"modules": ["TSN"], "backbones": ["ResNet18"], "options": {"seed": [1, 2]}}},
         "axes.options.seed: a grid's seeds come from axes.seeds"),
    ],
)
def test_invalid_specs_name_the_field(tmp_path, changes, message):
    with pytest.raises(ConfigError) as err:
        experiment_from_dict(_spec(**changes), source="t.yaml", base=tmp_path).runs()
    assert message in str(err.value)
    assert "t.yaml" in str(err.value)


def test_unknown_key_lists_valid_keys(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_spec(outputs="x")))
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'outputs'.*valid keys: axes, datasets"):
        load_experiment(path)


def test_estimate_counts_clips_and_scales_with_frames(tmp_path, monkeypatch):
    """TSN is a per-frame 2D network, so a 16-frame clip costs exactly twice an 8-frame clip."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "train.txt").write_text("".join(f"v{i} 1 16 {i % 4}\n" for i in range(7)))
    spec = _spec(datasets=[{"preset": "synthetic-temporal", "root": str(root)}],
                 protocol={16: {"epochs": 2}})
    exp = experiment_from_dict(spec, source="t.yaml", base=tmp_path)
    est = {e.run_id: e for e in estimate(exp)}
    f8, f16 = est["synthetic-temporal/TSN-ResNet18-f8"], est["synthetic-temporal/TSN-ResNet18-f16"]
    assert f16.macs_per_clip == 2 * f8.macs_per_clip > 0
    assert f8.clips_per_epoch == 7 and f8.clips_source == str(root / "train.txt")
    assert f8.macs == f8.macs_per_clip * 7 * 4 and f16.macs == f16.macs_per_clip * 7 * 2
    # Without a readable list, the mini datasets fall back to the paper's Table 11 sizes.
    spec = _spec(datasets=["mini-ssv2"], axes={"modules": ["TSN"], "backbones": ["ResNet18"], "frames": [8]})
    (only,) = estimate(experiment_from_dict(spec, source="t.yaml", base=tmp_path))
    assert (only.clips_per_epoch, only.clips_source) == (PAPER_TRAIN_VIDEOS["mini-ssv2"], "paper Table 11")
    # ... and the full datasets to their released training sets (Table 4's transfer targets included).
    monkeypatch.setenv("STBENCH_DATA", str(tmp_path / "no-data-here"))
    spec = _spec(datasets=["ucf101", "hmdb51", "jester"], axes={"modules": ["TSN"], "backbones": ["ResNet18"],
                                                                 "frames": [8]})
    sizes = {e.run_id.split("/")[0]: e.clips_per_epoch for e in estimate(
        experiment_from_dict(spec, source="t.yaml", base=tmp_path))}
    assert sizes == {"ucf101": 9537, "hmdb51": 51 * 70, "jester": 118562}


def test_plan_cli_reports_runs_and_dependencies(capsys):
    assert main(["plan", str(PAPER_YAML), "--no-estimate", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["runs"], out["dependencies"]) == (288, 216)
    assert main(["plan", str(PAPER_YAML), "--no-estimate", "--summary"]) == 0
    assert "288 runs, 216 dependencies" in capsys.readouterr().out


def test_plan_cli_estimate_and_errors(tmp_path, capsys):
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(_spec(axes={"modules": ["TSN"], "backbones": ["ResNet18"], "frames": [8]})))
    assert main(["plan", str(path)]) == 0
    out = capsys.readouterr().out
    assert "synthetic-temporal/TSN-ResNet18-f8" in out and "compute estimate" in out
    path.write_text(yaml.safe_dump(_spec(run={"epochz": 1})))
    assert main(["plan", str(path)]) == 2
    assert "unknown key 'epochz'" in capsys.readouterr().err


def test_small_example_plans(capsys):
    exp = load_experiment(REPO / "experiments" / "small_synthetic.yaml")
    assert len(exp.runs()) == 4 and len(exp.dependencies()) == 2
