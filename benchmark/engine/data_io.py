"""The engine's side of the data contract: datasets and loaders for training and evaluation.

The data layer (``benchmark.data``) makes datasets; the engine owns the sample order (resumable,
sharded over DDP ranks) and wraps each dataset so augmentation is seeded per sample.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from benchmark.engine.sampling import ResumableSampler, SampleSeeded


def resolve_dataset(entry: Any, where: str):
    """A preset name or mapping (the ``dataset:`` section) -> the data layer's ``DataConfig``."""
    from benchmark.data import resolve_data_config

    return resolve_data_config(entry, where)


def num_classes_of(data_cfg) -> int:
    return int(data_cfg.num_classes)


def build_split(data_cfg, split: str, *, frames: int, mean, std, train: bool, seed: int,
                clips: int = 1, crops: int = 1):
    from benchmark import data

    return data.build_dataset(data_cfg, split, frames=frames, mean=mean, std=std, train=train,
                              num_clips=clips, num_crops=crops, seed=seed)


def _collate(dataset):
    """The data layer's collate: stacks good samples, drops bad ones and counts them in ``skipped``."""
    from benchmark.data.dataset import VideoCollate

    c = dataset.cfg
    view = (3, dataset.frames, c.crop, c.crop)
    if not dataset.train and dataset.num_crops == 3:  # 3-crop testing keeps the full resized frame
        view = (3, dataset.frames, c.resize, c.resize)
    return VideoCollate(view if dataset.num_views == 1 else (dataset.num_views, *view))


def train_loader(dataset, *, batch_size: int, workers: int, seed: int, rank: int, world: int,
                 pin: bool) -> tuple[DataLoader, ResumableSampler, SampleSeeded]:
    """A loader whose order and augmentation are functions of (seed, epoch, index) only."""
    seeded = SampleSeeded(dataset, seed)
    sampler = ResumableSampler(len(seeded), num_replicas=world, rank=rank, shuffle=True, seed=seed)
    loader = DataLoader(
        seeded, batch_size=batch_size, sampler=sampler, num_workers=workers, drop_last=True,
        collate_fn=_collate(dataset), pin_memory=pin,
        # An explicit generator: the workers' base seed must not consume the global RNG.
        generator=torch.Generator().manual_seed(seed),
    )
    return loader, sampler, seeded


def eval_loader(dataset, *, batch_size: int, workers: int, rank: int, world: int, pin: bool,
                seed: int = 0) -> DataLoader:
    """In-order, sharded over ranks; padding repeats are removed later by index (merge_shards)."""
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False) if world > 1 else None
    return DataLoader(
        SampleSeeded(dataset, seed), batch_size=batch_size, sampler=sampler, shuffle=False,
        num_workers=workers, drop_last=False, collate_fn=_collate(dataset), pin_memory=pin,
        generator=torch.Generator().manual_seed(seed),
    )
