"""Resumable, deterministic sample order and augmentation for exact resume.

* :class:`ResumableSampler`: the epoch's shuffled order is a function of (seed, epoch) and is
  sharded over DDP ranks like ``DistributedSampler``; it can start mid-epoch (``start``), which is
  how a pre-empted run continues from the batch where it stopped.
* :class:`SampleSeeded`: each sample's random augmentation is seeded from (seed, epoch, index),
  so it does not depend on which worker loads it or on how many samples came before — the
  condition for a resumed epoch to see exactly the same clips as an uninterrupted one.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


def _mix(*values: int) -> int:
    """A 63-bit seed from integers (SplitMix64-style mixing: nearby inputs give unrelated seeds)."""
    x = 0x9E3779B97F4A7C15
    for v in values:
        x = (x ^ (int(v) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
    return x & 0x7FFFFFFFFFFFFFFF


class ResumableSampler(Sampler[int]):
    def __init__(self, length: int, *, num_replicas: int = 1, rank: int = 0, shuffle: bool = True,
                 seed: int = 0):
        self.length, self.num_replicas, self.rank = length, num_replicas, rank
        self.shuffle, self.seed = shuffle, seed
        self.epoch, self.start = 0, 0
        self.per_rank = -(-length // num_replicas)  # padded, as DistributedSampler

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Order of ``epoch``; skip this rank's first ``start`` samples (a resumed epoch)."""
        self.epoch, self.start = epoch, start

    def order(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(_mix(self.seed, self.epoch))
            indices = torch.randperm(self.length, generator=g).tolist()
        else:
            indices = list(range(self.length))
        total = self.per_rank * self.num_replicas
        indices += indices[: total - len(indices)]
        return indices[self.rank : total : self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.order()[self.start :])

    def __len__(self) -> int:
        return max(0, self.per_rank - self.start)


class SampleSeeded(Dataset):
    """Wrap a dataset so ``__getitem__(i)`` runs with Python/NumPy/torch RNGs seeded from (seed, epoch, i).

    The caller's RNG states are restored afterwards, so loading in the main process
    (``workers: 0``) does not disturb the model's RNG stream (dropout).
    """

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed, self.epoch = dataset, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name):
        if name == "dataset":  # not yet set (unpickling): avoid recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, index: int):
        seed = _mix(self.seed, self.epoch, index)
        saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
        try:
            random.seed(seed)
            np.random.seed(seed % 2**32)
            torch.manual_seed(seed)
            return self.dataset[index]
        finally:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
            torch.set_rng_state(saved[2])
