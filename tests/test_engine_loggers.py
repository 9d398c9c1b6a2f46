"""Live loggers (``loggers: [tensorboard]``), mean class accuracy in result.json, and resuming a run
recorded by an older stbench (its config lacks keys added since)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from benchmark.analysis.per_class import confusion_matrix, mean_class_accuracy
from benchmark.data.synthetic import generate
from benchmark.engine import train
from benchmark.engine.run_config import config_to_dict, load_run_config, same_run
from benchmark.errors import ConfigError

EPOCHS = 3


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    generate("temporal", out, num_train=8, num_val=6, size=32, frames_per_video=8, seed=0, formats=("frames",))
    return out


def config(data_dir: Path, **overrides) -> dict:
    cfg = {"model": "TSN-TinyResNet-f4", "dataset": {"preset": "synthetic-temporal", "root": str(data_dir)},
           "pretrained": None, "epochs": EPOCHS, "batch_size": 4, "workers": 0, "log_every": 1,
           "eval": {"clips": 2, "crops": 1}}
    cfg.update(overrides)
    return cfg


@pytest.fixture(scope="module")
def logged_run(data_dir, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "tb"
    train(config(data_dir, loggers=["tensorboard"]), run)
    return run


@pytest.mark.slow
def test_tensorboard_event_files_hold_every_epoch(logged_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(logged_run / "tensorboard"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    metrics = [json.loads(line) for line in (logged_run / "metrics.jsonl").read_text().splitlines()]
    for tag, key in (("epoch/train_loss", "train_loss"), ("epoch/val_top1", "val_top1")):
        assert tag in scalars
        logged = {e.step: e.value for e in events.Scalars(tag)}
        assert sorted(logged) == list(range(1, EPOCHS + 1))
        for line in metrics:
            assert logged[line["epoch"]] == pytest.approx(line[key], rel=1e-6)
    steps = [e.step for e in events.Scalars("step/train_loss")]
    assert steps == list(range(1, 2 * EPOCHS + 1))  # 2 batches per epoch, log_every 1
    assert "step/lr" in scalars and "step/clips_per_s" in scalars
    assert any((logged_run / "tensorboard").rglob("events.out.tfevents.*"))  # hparams go to their own file


@pytest.mark.slow
def test_mean_class_accuracy_in_the_result_equals_the_predictions(logged_run):
    result = json.loads((logged_run / "result.json").read_text())
    preds = pd.read_csv(logged_run / "predictions.csv")
    by_hand = preds.groupby("label")["correct1"].mean().mean() * 100
    assert result["mean_class_top1"] == pytest.approx(by_hand)
    assert result["mean_class_top1"] == pytest.approx(mean_class_accuracy(confusion_matrix(preds["label"], preds["pred"])))


def test_an_unknown_or_missing_logger_is_one_line(data_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"loggers: unknown logger 'neptune' \(choices: mlflow, tensorboard, wandb"):
        load_run_config(config(data_dir, loggers=["neptune"]))
    # Without the tensorboard package the run stops with one line naming the extra.
    code = textwrap.dedent(f"""
        import sys, builtins
        real = builtins.__import__
        def fake(name, *a, **k):
            if name.startswith("torch.utils.tensorboard"):
                raise ImportError("No module named 'tensorboard'")
            return real(name, *a, **k)
        builtins.__import__ = fake
        from benchmark.cli import main
        sys.exit(main(["train", {str(tmp_path / 'run.yaml')!r}, "--run-dir", {str(tmp_path / 'run')!r}]))
    """)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config(data_dir, loggers=["tensorboard"], epochs=1)))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "STBENCH_TEST_THREADS": "1"})
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "pip install 'stbench[tensorboard]'" in done.stderr


def test_a_record_from_an_older_stbench_is_the_same_run(data_dir):
    current = config_to_dict(load_run_config(config(data_dir)))
    old = {k: v for k, v in current.items() if k not in ("loggers", "model_options")}
    old["dataset"] = {k: v for k, v in current["dataset"].items() if k != "decoder"}
    assert same_run(old, current)
    assert not same_run({**old, "seed": 1}, current)  # a real difference
    assert not same_run(old, {**current, "loggers": ["tensorboard"]})  # a new key away from its default
    assert not same_run({**current, "gone": 1}, current)  # a key this version does not know


@pytest.mark.slow
def test_resuming_a_run_recorded_without_the_new_keys(data_dir, tmp_path):
    run = tmp_path / "old"
    cfg = config(data_dir, epochs=1)
    train(cfg, run)
    recorded = yaml.safe_load((run / "config.yaml").read_text())
    for key in ("loggers", "model_options"):
        recorded.pop(key)
    recorded["dataset"].pop("decoder")
    (run / "config.yaml").write_text(yaml.safe_dump(recorded, sort_keys=False))
    before = json.loads((run / "result.json").read_text())
    (run / "result.json").unlink()  # forces the resume path past the 'already done' answer
    again = train(cfg, run)
    assert again["top1"] == before["top1"]
    recorded["seed"] = 7
    (run / "config.yaml").write_text(yaml.safe_dump(recorded, sort_keys=False))
    with pytest.raises(ConfigError, match="different config"):
        train(cfg, run)
