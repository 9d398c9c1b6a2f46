"""``stbench test --weights``: evaluate published weights (an stbench weights file) on a dataset
without training, into a run directory of kind ``test`` that collect and report read like any run."""

from __future__ import annotations

import time
from pathlib import Path

import torch
import yaml

from benchmark.engine import atomic_io, run_layout
from benchmark.engine.accuracy import mean_class_accuracy
from benchmark.engine.builders import RunInputs, build_run_model, run_device
from benchmark.engine.checkpoint import global_rng_restored, init_from_run
from benchmark.engine.claim import held
from benchmark.engine.distributed import broadcast_object, process_group
from benchmark.engine.evaluation import run_test, write_predictions
from benchmark.engine.records import result_record
from benchmark.engine.run_config import RunConfig, config_to_dict, load_run_config
from benchmark.engine.schema import validate_result
from benchmark.engine.train_state import TrainState
from benchmark.errors import ConfigError
from benchmark.models.published.weights_file import load_weights


def weights_test_config(weights: str | Path, dataset, *, clips: int, crops: int, overrides: dict | None = None) -> RunConfig:
    """The run config of a test: the file's model, no training, the given views."""
    record = load_weights(weights)
    data = {"model": record["model_name"], "dataset": dataset, "pretrained": None,
            "init_from": str(Path(weights).absolute()), "epochs": 1, "run_id": None,
            "eval": {"clips": clips, "crops": crops}}
    for key, value in (overrides or {}).items():
        if key == "dataset" and isinstance(value, dict) and isinstance(dataset, str):
            data[key] = {"preset": dataset, **value}  # --set dataset.root=... on a preset name
        elif isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return load_run_config(data, where=f"test --weights {weights}")


def evaluate_weights(cfg: RunConfig, run_dir: str | Path) -> dict:
    """Evaluate ``cfg.init_from`` (a weights file) with ``cfg.eval``'s views; write and return result.json."""
    run_dir = Path(run_dir)
    if (run_dir / run_layout.RESULT).is_file():
        raise ConfigError(f"{run_dir}: holds a finished run already (result.json); choose another --out")
    device = run_device(cfg)
    with process_group(device.type) as info, \
            held(run_dir, "test", active=info.is_main, share=lambda refusal: broadcast_object(refusal, info)), \
            global_rng_restored():
        return _test(cfg, run_dir, info, device)


def _test(cfg: RunConfig, run_dir: Path, info, device) -> dict:
    started = time.monotonic()
    inputs = RunInputs.of(cfg, f"test --weights {cfg.init_from}: dataset")
    classes = load_weights(cfg.init_from)["num_classes"]
    if classes != inputs.num_classes:
        raise ConfigError(f"{cfg.init_from}: the weights classify {classes} classes, the dataset has "
                          f"{inputs.num_classes}: fine-tune them (init_from: FILE in a run config) instead")
    if info.is_main:
        atomic_io.make_dir(run_dir)
        atomic_io.write_bytes_atomic(run_dir / run_layout.CONFIG,
                                     yaml.safe_dump(config_to_dict(cfg), sort_keys=False).encode())
        run_layout.write_state(run_dir, "running")
    model = build_run_model(cfg, inputs.num_classes)
    init_from_run(model, cfg.init_from)
    model.to(device)
    merged, names = run_test(model, inputs, cfg, info, device, cfg.eval.clips, cfg.eval.crops)
    result = None
    if info.is_main:
        write_predictions(run_dir, merged, names)
        video = {"top1": merged["top1"], "top5": merged["top5"],
                 "mean_class_top1": mean_class_accuracy(*_tensors(merged))}
        state = TrainState(best_top1=merged["top1"], best_top5=merged["top5"])  # no validation: the test's figures
        result = result_record(cfg, run_dir.name, inputs, state, video, wall=time.monotonic() - started,
                               skipped=merged["skipped"], device=device, world_size=info.world_size,
                               splits=(cfg.eval.split,))  # no training: only the tested split
        result.update(kind="test", epochs=0)
        validate_result(result)
        atomic_io.write_json_atomic(run_dir / run_layout.RESULT, result)
        run_layout.write_state(run_dir, "done", epoch=0)
    return broadcast_object(result, info)


def _tensors(merged: dict):
    return torch.from_numpy(merged["scores"]), torch.from_numpy(merged["label"])
