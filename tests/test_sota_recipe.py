"""Paper 002's full-dataset recipe (Supplement D.2, SlowFast's): scale-jitter crops and a warm-up
that rises from a given rate; checked against reference implementations kept here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_data_fast_views import ref_resize_short, smooth_frames
from torchvision.transforms.v2 import functional as F
from torchvision.tv_tensors import Video

from benchmark.data import resolve_data_config
from benchmark.data.transforms import jitter_view, render
from benchmark.engine.run_config import config_to_dict, load_run_config, same_run
from benchmark.engine.schedule import lr_at
from benchmark.errors import ConfigError
from benchmark.grid import load_experiment


def ref_jitter(clip, low, high, crop, flip, rng):
    """SlowFast's random_short_side_scale_jitter + random_crop + horizontal flip, resize first."""
    side = int(rng.integers(low, high + 1))
    clip = ref_resize_short(clip, side)
    h, w = clip.shape[-2:]
    top, left = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    out = clip[..., top:top + crop, left:left + crop]
    if flip and rng.random() < 0.5:
        out = F.horizontal_flip(Video(out)).as_subclass(torch.Tensor)
    return out, side


def test_jitter_equals_resize_then_random_crop():
    frames = smooth_frames(2, 48, 64, cell=16)
    sides = set()
    for seed in range(80):
        rng_new, rng_old = np.random.default_rng(seed), np.random.default_rng(seed)
        view = jitter_view(48, 64, jitter_range=(48, 56), crop=40, flip=True, rng=rng_new)
        new = render(frames, [view])[0]
        old, side = ref_jitter(torch.stack(frames), 48, 56, 40, True, rng_old)
        sides.add(side)
        assert rng_new.random() == rng_old.random()  # the same draws, in the same order
        assert new.shape == old.shape == (2, 3, 40, 40)
        if side == 48:  # no resize: the very same pixels
            assert torch.equal(new, old), seed
        else:  # the region is resampled once instead of the frame, its box within half a pixel:
            # a couple of grey levels on smooth content
            assert (new.int() - old.int()).abs().float().mean() < 3, (seed, side)
    assert sides == set(range(48, 57))  # every short side of the range, both ends included


def test_jitter_range_is_checked_and_recorded():
    cfg = resolve_data_config({"preset": "kinetics400", "train_crop": "jitter", "jitter_range": [256, 320]})
    assert (cfg.train_crop, tuple(cfg.jitter_range)) == ("jitter", (256, 320))
    with pytest.raises(ConfigError, match=r"jitter_range must be \[min, max\].*got \[200, 320\]"):
        resolve_data_config({"preset": "kinetics400", "jitter_range": [200, 320]})


def test_warmup_from_a_start_rate_to_the_schedules_rate():
    # Hand values: cosine over 10 epochs, 2 warm-up epochs from 0.1: epoch 2's rate is
    # (1 + cos(pi / 5)) / 2 = 0.904508..., epoch 1 is halfway.
    at2 = (1 + math.cos(math.pi * 2 / 10)) / 2
    got = [lr_at(e, base_lr=1.0, epochs=10, name="cosine", warmup_epochs=2, warmup_start=0.1) for e in range(4)]
    assert got == pytest.approx([0.1, (0.1 + at2) / 2, at2, (1 + math.cos(math.pi * 3 / 10)) / 2])
    # without a start rate: the scaling warm-up as before
    assert lr_at(0, base_lr=1.0, epochs=10, name="cosine", warmup_epochs=2) == pytest.approx(1 / 3)


def test_recorded_runs_without_the_new_keys_are_still_the_same_run():
    cfg = config_to_dict(load_run_config({"model": "TSN-ResNet18-f8", "dataset": "synthetic-temporal"}, "x"))
    old = {**cfg, "dataset": {k: v for k, v in cfg["dataset"].items() if k not in ("train_crop", "jitter_range")},
           "schedule": {k: v for k, v in cfg["schedule"].items() if k != "warmup_start_lr"}}
    assert same_run(old, cfg)
    assert not same_run({**old, "dataset": {**old["dataset"], "jitter_range": [256, 300]}}, cfg)


@pytest.mark.parametrize("name", ["paper_sota", "paper_i3d_upgrades", "paper_sampling"])
def test_full_dataset_experiments_use_the_recipe(name):
    for run in load_experiment(name).runs():
        data, schedule = run.config["dataset"], run.config["schedule"]
        assert (data["train_crop"], data["jitter_range"], data["crop"]) == ("jitter", [256, 320], 224)
        assert (schedule["name"], schedule["warmup_epochs"], schedule["warmup_start_lr"]) == ("cosine", 34, 0.01)
        assert (run.config["optim"]["lr"], run.config["optim"]["weight_decay"]) == (1.6, 0.0001)
