"""One training step of a model through the engine on a tiny synthetic dataset (shared by the
architecture tests): the model is built, fed and optimised by the engine's own parts
(``build_training``: config, model, loader, optimiser; ``train_step``), and its weights are stored
and loaded back as a checkpoint would be, in memory: these networks are large, and what a run
directory does with a checkpoint is the engine tests' subject (tests/test_engine_*.py)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import torch

from benchmark.data.synthetic import generate
from benchmark.engine.builders import RunInputs, build_training
from benchmark.engine.distributed import DistInfo
from benchmark.engine.epoch import set_epoch_lr, train_step
from benchmark.engine.meters import EpochMeter
from benchmark.engine.run_config import load_run_config


def train_one_step(model: str, tmp_path: Path, **model_options) -> dict:
    """Train ``model`` for one step of 2 clips (``pretrained: null``); return the stepped weights.

    Asserts the step's loss is finite, that the step moved the classifier (its bias starts at zero
    in every model here and a cross-entropy step always changes it) and that the weights survive a
    checkpoint's round trip (``torch.save``, then ``torch.load(weights_only=True)``).
    """
    data = tmp_path / "data"
    generate("temporal", data, num_train=4, num_val=2, size=32, frames_per_video=8, seed=0, formats=("frames",))
    cfg = load_run_config({
        "model": model, "dataset": {"preset": "synthetic-temporal", "root": str(data)}, "pretrained": None,
        "epochs": 1, "batch_size": 2, "max_steps_per_epoch": 1, "workers": 0, "device": "cpu",
        "log_every": 1, "eval": {"video_level": False}, "model_options": model_options})
    assert cfg.model == model
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t = build_training(cfg, RunInputs.of(cfg), DistInfo(), torch.device("cpu"))
        t.loader.set_epoch(0)
        batch = next(iter(t.loader))
        set_epoch_lr(t, 0)
        meter = EpochMeter()
        train_step(t, batch, meter, "epoch 1, batch 1")  # without a watch: a non-finite step fails here
    finally:
        torch.set_num_threads(previous)
    assert math.isfinite(meter.loss) and meter.clips == 2, (meter.loss, meter.clips)
    buffer = io.BytesIO()
    torch.save({"model": t.model.state_dict()}, buffer)
    buffer.seek(0)
    weights = torch.load(buffer, weights_only=True)["model"]
    assert weights.keys() == t.model.state_dict().keys()
    (bias,) = [v for k, v in weights.items() if k.endswith("fc.bias") and v.shape == (4,)]
    assert bias.abs().sum() > 0, "the training step left the classifier at its initialisation"
    return weights
