"""The records a run writes: one ``metrics.jsonl`` line per epoch and ``result.json`` (docs/run-directory.md)."""

from __future__ import annotations

import logging

import torch

from benchmark.engine import run_layout
from benchmark.engine.builders import RunInputs, initial_weights_file
from benchmark.engine.environment import code_version, environment
from benchmark.engine.meters import EpochMeter
from benchmark.engine.run_config import RunConfig, config_to_dict, dataset_name
from benchmark.engine.schema import SCHEMA_VERSION
from benchmark.engine.train_state import TrainState
from benchmark.models.published.weights_file import identity, load_weights

log = logging.getLogger("benchmark.engine")


def metrics_line(epoch: int, lr: float, totals: EpochMeter, val: dict | None, state: TrainState,
                 epoch_time: float) -> dict:
    """Epoch ``epoch`` (1-based): training totals over all processes, validation (if it ran)."""
    return {
        "epoch": epoch,
        "lr": lr,
        "train_loss": totals.loss_sum / max(totals.clips, 1),
        "train_top1": 100.0 * totals.correct / max(totals.clips, 1),
        "train_clips": int(totals.clips),
        "val_loss": val["loss"] if val else None,
        "val_top1": val["top1"] if val else None,
        "val_top5": val["top5"] if val else None,
        "val_clips": val["clips"] if val else None,
        "best_top1": state.best_top1,
        "samples_skipped": int(totals.skipped),
        "epoch_time_s": epoch_time,
        "clips_per_s": totals.clips / max(epoch_time, 1e-9),
        "time": run_layout.now_iso(),
    }


def result_record(cfg: RunConfig, run_id: str, inputs: RunInputs, state: TrainState, video: dict, *,
                  wall: float, skipped: int, device: torch.device, world_size: int,
                  splits: tuple[str, ...] | None = None) -> dict:
    """``splits``: the splits the run used (default: train and the evaluation split)."""
    spec = inputs.spec
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "model": cfg.model,
        "module": spec.module,
        "backbone": spec.backbone,
        "tp": spec.tp,
        "frames": spec.frames,
        "dataset": dataset_name(cfg.dataset) or getattr(inputs.data, "name", None),
        "num_classes": int(inputs.num_classes),
        "seed": cfg.seed,
        "top1": state.best_top1,
        "top5": state.best_top5,
        "video_top1": video["top1"],
        "video_top5": video["top5"],
        "mean_class_top1": video.get("mean_class_top1"),
        **_profile(cfg.model, inputs.num_classes, cfg.model_options),
        "epochs": cfg.epochs,
        "best_epoch": state.best_epoch,
        "wall_time_s": wall,
        "samples_skipped": int(skipped),
        "throughput_clips_s": state.train_clips / state.train_time if state.train_time > 0 else None,
        "code_version": code_version(),
        "environment": environment(device, world_size),
        "config": config_to_dict(cfg),
        "kind": "train",
        **comparison_identity(cfg, inputs, splits or ("train", cfg.eval.split)),
    }


def comparison_identity(cfg: RunConfig, inputs: RunInputs, splits: tuple[str, ...]) -> dict:
    """``init_weights`` (the published weights the run started from), ``data`` (the videos of each
    split used) and ``protocol`` (benchmark.engine.identity); a finished run is never lost because a
    list could not be read again: the reason is kept instead."""
    from benchmark.engine.identity import data_identity, protocol_identity

    weights = init_weights_identity(cfg)
    try:
        data = data_identity(inputs.data, dict.fromkeys(splits))
    except Exception as exc:  # noqa: BLE001 - a list moved or deleted since the run started
        log.warning("could not fingerprint the data of %s: %s", cfg.model, exc)
        data = {"error": str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}
    return {"init_weights": weights, "data": data,
            "protocol": protocol_identity(cfg, inputs.data, inputs.spec.frames, weights)}


def init_weights_identity(cfg: RunConfig) -> dict | None:
    """What the result keeps of the published weights a run started from (not the tensors)."""
    path = initial_weights_file(cfg)
    return None if path is None else {"path": str(path), **identity(load_weights(path))}


def _profile(model: str, num_classes: int, options: dict | None = None) -> dict:
    try:
        from benchmark.models import profile_model

        p = profile_model(model, num_classes, size=224, options=options)
        return {"params": int(p["params"]), "macs_conv": int(p["macs_conv"]), "macs_all": int(p["macs_all"])}
    except Exception as exc:  # a finished run must not be lost because counting failed
        log.warning("could not profile %s: %s", model, exc)
        return {"params": None, "macs_conv": None, "macs_all": None}


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"
