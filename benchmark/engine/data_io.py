"""The engine's side of the data contract: datasets and loaders for training and evaluation.

The data layer makes the datasets (sampling and augmentation are functions of seed, epoch and
index) and the resumable, rank-sharded sample order (``EpochSampler``); the engine builds the
loaders so that creating one never draws from the global RNG, which exact resume relies on.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader

from benchmark.data import EpochSampler, resolve_data_config
from benchmark.data.dataset import VideoCollate


def resolve_dataset(entry: Any, where: str):
    """A preset name or mapping (the ``dataset:`` section) -> the data layer's ``DataConfig``."""
    return resolve_data_config(entry, where)


def build_split(data_cfg, split: str, *, frames: int, mean, std, train: bool, seed: int,
                clips: int = 1, crops: int = 1):
    from benchmark.data import build_dataset

    return build_dataset(data_cfg, split, frames=frames, mean=mean, std=std, train=train,
                         num_clips=clips, num_crops=crops, seed=seed)


def _collate(dataset) -> VideoCollate:
    """The data layer's collate: stacks good samples, drops bad ones and counts them in ``skipped``."""
    c = dataset.cfg
    view = (3, dataset.frames, c.crop, c.crop)
    if not dataset.train and dataset.num_crops == 3:  # 3-crop testing keeps the full resized frame
        view = (3, dataset.frames, c.resize, c.resize)
    return VideoCollate(view if dataset.num_views == 1 else (dataset.num_views, *view))


def _loader(dataset, sampler, *, batch_size: int, workers: int, pin: bool, seed: int, train: bool):
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, drop_last=train,
        collate_fn=_collate(dataset), pin_memory=pin,
        # An explicit generator: the workers' base seed must not be drawn from the global RNG,
        # or a loader created on resume would shift the model's random stream (dropout).
        generator=torch.Generator().manual_seed(seed),
    )


def train_loader(dataset, *, batch_size: int, workers: int, seed: int, rank: int, world: int,
                 pin: bool) -> tuple[DataLoader, EpochSampler]:
    """Shuffled per (seed, epoch), padded to equal shards; ``sampler.set_epoch(e, start)`` resumes mid-epoch."""
    sampler = EpochSampler(len(dataset), shuffle=True, seed=seed, rank=rank, world_size=world)
    return _loader(dataset, sampler, batch_size=batch_size, workers=workers, pin=pin, seed=seed,
                   train=True), sampler


def eval_loader(dataset, *, batch_size: int, workers: int, rank: int, world: int, pin: bool,
                seed: int = 0) -> DataLoader:
    """In order, sharded over ranks; results are merged by video index (``merge_shards``)."""
    sampler = EpochSampler(len(dataset), shuffle=False, seed=seed, rank=rank, world_size=world)
    return _loader(dataset, sampler, batch_size=batch_size, workers=workers, pin=pin, seed=seed, train=False)
