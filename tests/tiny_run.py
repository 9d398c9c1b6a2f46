"""One training step of a model through the engine on a tiny synthetic dataset (shared by the
architecture tests): the model is built, fed, optimised and checkpointed by ``benchmark.engine.train``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from benchmark.data.synthetic import generate
from benchmark.engine import train
from benchmark.engine.rundir import read_metrics


def train_one_step(model: str, tmp_path: Path, **model_options) -> dict:
    """Train ``model`` for one step of 2 clips (``pretrained: null``); return the checkpointed weights.

    Asserts the run finished with a finite loss and that the step moved the classifier: its bias
    starts at zero in every model here and a cross-entropy step always changes it.
    """
    data = tmp_path / "data"
    generate("temporal", data, num_train=4, num_val=2, size=32, frames_per_video=8, seed=0, formats=("frames",))
    cfg = {"model": model, "dataset": {"preset": "synthetic-temporal", "root": str(data)}, "pretrained": None,
           "epochs": 1, "batch_size": 2, "max_steps_per_epoch": 1, "workers": 0, "device": "cpu",
           "log_every": 1, "eval": {"video_level": False}, "model_options": model_options}
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(cfg, tmp_path / "run")
    finally:
        torch.set_num_threads(previous)
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["model"] == model
    losses = [m["train_loss"] for m in read_metrics(tmp_path / "run") if "train_loss" in m]
    assert losses and all(math.isfinite(x) for x in losses), losses
    weights = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["model"]
    (bias,) = [v for k, v in weights.items() if k.endswith("fc.bias") and v.shape == (4,)]
    assert bias.abs().sum() > 0, "the training step left the classifier at its initialisation"
    return weights
