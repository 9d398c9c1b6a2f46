"""Run directories written exactly as docs/run-directory.md describes, for the analysis tests.

The engine's own schema validates the records, so the fixtures cannot drift from the contract.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from benchmark.engine.schema import validate_metrics_line, validate_result


def result_record(model: str, dataset: str, top1: float, *, seed: int = 0, params: int = 11_000_000,
                  macs_conv: int = 14_000_000_000, top5: float | None = None, epochs: int = 2) -> dict:
    stem, _, frames = model.rpartition("-f")
    tp = stem.endswith("-tp")
    module, backbone = stem.removesuffix("-tp").rsplit("-", 1)
    return {
        "schema_version": 1, "run_id": f"{dataset}/{model}", "model": model, "module": module,
        "backbone": backbone, "tp": tp, "frames": int(frames), "dataset": dataset, "num_classes": 10,
        "seed": seed, "top1": top1, "top5": top5 if top5 is not None else min(100.0, top1 + 20),
        "video_top1": min(100.0, top1 + 1), "video_top5": None, "params": params, "macs_conv": macs_conv,
        "macs_all": macs_conv + 10_000, "epochs": epochs, "best_epoch": epochs, "wall_time_s": 12.5,
        "samples_skipped": 0, "throughput_clips_s": 42.0,
        "code_version": {"package": "0.1.0", "git_commit": None, "git_dirty": None},
        "environment": {"python": "3.11", "torch": "2", "torchvision": None, "av": None, "platform": "linux",
                        "hostname": "h", "device": "cpu", "cuda": None, "world_size": 1},
        "config": {"model": model, "dataset": dataset, "seed": seed},
        "data": {"dataset": dataset, "num_classes": 10, "classes_fingerprint": "c0ffee0000000000",
                 "train": {"videos": 1000, "fingerprint": f"train-{dataset}", "malformed": 0, "skipped": None},
                 "val": {"videos": 600, "fingerprint": f"val-{dataset}", "malformed": 0, "skipped": None}},
        "protocol": {"frames": int(frames), "sampling": "uniform", "test_views": "1x1", "epochs": epochs,
                     "fingerprint": "p0"},
    }


def metrics_line(epoch: int, top1: float) -> dict:
    return {"epoch": epoch, "lr": 0.01, "train_loss": 1.0, "train_top1": top1, "train_clips": 100,
            "val_loss": 1.1, "val_top1": top1, "val_top5": min(100.0, top1 + 10), "val_clips": 50, "best_top1": top1,
            "samples_skipped": 0, "epoch_time_s": 3.0, "clips_per_s": 30.0, "time": "2026-01-01T00:00:00+00:00"}


def write_state(run_dir: Path, state: str, reason: str | None = None, epoch: int = 0) -> None:
    (run_dir / "state.json").write_text(json.dumps({
        "state": state, "reason": reason, "epoch": epoch, "updated": "2026-01-01T00:00:00+00:00",
        "host": "h", "pid": 1, "job_id": None}))


def make_run(root: Path, model: str, dataset: str, state: str = "done", *, top1: float = 50.0, seed: int = 0,
             correct=None, reason: str | None = None, **result_kwargs) -> Path:
    """A run directory in ``state``; ``correct`` (0/1 per video) writes predictions.csv for a done run."""
    run_dir = root / dataset / (model + (f"-seed{seed}" if seed else ""))
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"model": model, "dataset": dataset, "seed": seed}))
    if state == "pending":
        return run_dir
    lines = [metrics_line(e, top1) for e in (1, 2)]
    for line in lines:
        validate_metrics_line(line)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
    write_state(run_dir, state, reason, epoch=2)
    if state == "done":
        record = result_record(model, dataset, top1, seed=seed, **result_kwargs)
        validate_result(record)
        (run_dir / "result.json").write_text(json.dumps(record))
        if correct is not None:
            correct = np.asarray(correct, dtype=int)
            rows = ["index,video,label,pred,correct1,correct5"]
            rows += [f"{i},v{i:04d}.mp4,{i % 10},{i % 10 if c else (i + 1) % 10},{c},{max(c, i % 2)}"
                     for i, c in enumerate(correct)]
            (run_dir / "predictions.csv").write_text("\n".join(rows) + "\n")
    return run_dir


def test_fixture_records_follow_the_engine_schema(tmp_path):
    run = make_run(tmp_path, "TAM-ResNet18-tp-f8", "synthetic-temporal", top1=61.5, correct=[1, 0, 1])
    record = json.loads((run / "result.json").read_text())
    assert (record["module"], record["backbone"], record["tp"], record["frames"]) == ("TAM", "ResNet18", True, 8)
    assert (run / "predictions.csv").read_text().splitlines()[0] == "index,video,label,pred,correct1,correct5"
