"""Loaders: the one way a split becomes dict batches, for training, evaluation, tests and scripts.

Order: the training order comes from ``[seed, epoch]`` and ``loader.set_epoch(e, start_batch=b)``
continues epoch ``e`` at batch ``b`` exactly, whatever the number of workers (the engine's exact
resume). Workers must not be persistent: the epoch reaches them when the dataset is re-sent at the
start of each epoch. Creating or iterating a loader never draws from the global RNG (its worker
seeds come from its own generator), or a loader created on resume would shift the model's random
stream (dropout).

Batches: ``{"video", "label", "index", "skipped"}``; bad samples (``on_bad_sample: skip``) are
dropped and counted in ``skipped``, so a batch whose samples were all bad has batch size 0.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from benchmark.data.dataset import BadSample, build_dataset
from benchmark.data.dataset_config import DataConfig


class VideoCollate:
    """Stacks good samples, drops ``BadSample`` markers and counts them in ``skipped``."""

    def __init__(self, empty_shape: tuple[int, ...]):
        self.empty_shape = empty_shape

    def __call__(self, items: list) -> dict:
        good = [x for x in items if not isinstance(x, BadSample)]
        skipped = len(items) - len(good)
        if not good:
            return {"video": torch.empty((0, *self.empty_shape)), "label": torch.empty(0, dtype=torch.long),
                    "index": torch.empty(0, dtype=torch.long), "skipped": skipped}
        return {
            "video": torch.stack([x["video"] for x in good]),
            "label": torch.tensor([x["label"] for x in good], dtype=torch.long),
            "index": torch.tensor([x["index"] for x in good], dtype=torch.long),
            "skipped": skipped,
        }


class EpochSampler(Sampler[int]):
    """Seeded order per epoch (shuffled for training), sharded over ranks, resumable mid-epoch."""

    def __init__(self, size: int, *, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1):
        self.size, self.shuffle, self.seed = size, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = int(epoch), int(start)

    def _indices(self) -> list[int]:
        order = np.arange(self.size)
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch, 1]).permutation(self.size)
            # Every rank gets the same number of steps in training: pad by wrapping around.
            pad = (-self.size) % self.world_size
            order = np.concatenate([order, order[:pad]])
        return order[self.rank::self.world_size].tolist()[self.start:]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices())

    def __len__(self) -> int:
        return len(self._indices())


class VideoLoader(DataLoader):
    """A ``DataLoader`` whose epoch (and first batch, for resuming) is set explicitly."""

    def __init__(self, dataset, *, seed: int, **kwargs):
        super().__init__(dataset, generator=torch.Generator().manual_seed(seed), **kwargs)
        self.seed = seed

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch, start_batch * self.batch_size)
        self.generator.manual_seed(self.seed * 100003 + epoch)


def build_loader(cfg: DataConfig | str | dict, split: str, *, frames: int, mean: Sequence[float],
                 std: Sequence[float], train: bool, batch_size: int, num_clips: int = 1, num_crops: int = 1,
                 seed: int = 0, num_workers: int | None = None, rank: int = 0, world_size: int = 1,
                 drop_last: bool | None = None, pin_memory: bool = False) -> VideoLoader:
    """Loader of one split's dict batches (see module doc), shuffled and ending on a full batch for
    training, in list order for evaluation; sharded over ``world_size`` ranks. Call ``set_epoch``
    before each training epoch."""
    dataset = build_dataset(cfg, split, frames=frames, mean=mean, std=std, train=train,
                            num_clips=num_clips, num_crops=num_crops, seed=seed)
    workers = dataset.cfg.num_workers if num_workers is None else num_workers
    sampler = EpochSampler(len(dataset), shuffle=train, seed=seed, rank=rank, world_size=world_size)
    return VideoLoader(dataset, seed=seed, batch_size=batch_size, sampler=sampler, num_workers=workers,
                       collate_fn=VideoCollate(dataset.sample_shape),
                       drop_last=train if drop_last is None else drop_last, pin_memory=pin_memory,
                       persistent_workers=False)
