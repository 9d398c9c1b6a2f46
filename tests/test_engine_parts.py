"""Parts of the trainer on their own: named epoch sums, the carried state, the eval batch rule."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from benchmark.engine.builders import eval_batch, per_rank_batch
from benchmark.engine.distributed import DistInfo
from benchmark.engine.meters import EpochMeter
from benchmark.engine.run_config import load_run_config
from benchmark.engine.train_state import TrainState
from benchmark.errors import ConfigError


def test_epoch_meter_sums_by_hand():
    m = EpochMeter()
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])  # predictions 0, 1, 0
    m.add_batch(torch.tensor(0.5), logits, torch.tensor([0, 0, 0]), skipped=1)
    m.add_batch(torch.tensor(2.0), logits[:1], torch.tensor([1]), skipped=0)
    assert m.as_list() == [0.5 * 3 + 2.0 * 1, 2.0, 4.0, 1.0]
    assert m.loss == pytest.approx(3.5 / 4) and m.top1 == pytest.approx(50.0)
    assert EpochMeter.from_list(m.as_list()) == m
    assert EpochMeter().loss == 0.0 and EpochMeter().top1 == 0.0  # no clips: no division by zero


def test_train_state_keeps_the_strictly_best_epoch():
    s = TrainState()
    assert not s.record_validation(None, 1)
    assert not s.record_validation({"top1": None, "top5": None}, 1)
    assert s.record_validation({"top1": 40.0, "top5": 90.0}, 2) and (s.best_top1, s.best_epoch) == (40.0, 2)
    assert not s.record_validation({"top1": 40.0, "top5": 99.0}, 3)  # a tie keeps the earlier epoch
    assert s.best_top5 == 90.0
    assert s.record_validation({"top1": 41.0, "top5": 80.0}, 4) and (s.best_top5, s.best_epoch) == (80.0, 4)


def test_train_state_round_trips_and_ignores_unknown_keys():
    s = TrainState(epoch=3, batch=2, stats=[[1.0, 2.0, 3.0, 0.0]], wall=9.5)
    saved = {**s.as_dict(), "from_a_newer_version": 1}
    assert TrainState.from_dict(saved) == s
    assert TrainState.from_dict({"epoch": 1}) == dataclasses.replace(TrainState(), epoch=1)


def _cfg(**over):
    base = {"model": "TSN-ResNet18-f4", "dataset": {"preset": "synthetic-temporal", "root": "/nonexistent"},
            "pretrained": None, "epochs": 2, "batch_size": 8}
    return load_run_config({**base, **over})


def test_batch_rules_per_process_and_per_view():
    two = DistInfo(rank=0, world_size=2, local_rank=0)
    assert per_rank_batch(_cfg(), two) == 4
    with pytest.raises(ConfigError, match="batch_size 8 is not divisible by the 3 processes"):
        per_rank_batch(_cfg(), DistInfo(rank=0, world_size=3, local_rank=0))
    # eval batch (clips) / processes / views per video, never below one video
    assert eval_batch(_cfg(eval={"batch_size": 24}), two, views=3) == 4
    assert eval_batch(_cfg(), two) == 4
    assert eval_batch(_cfg(eval={"batch_size": 2}), two, views=10) == 1
    assert eval_batch(_cfg(batch_size=2), DistInfo(rank=0, world_size=4, local_rank=0)) == 1
