"""Loaders: the one way a split becomes dict batches, for training, evaluation, tests and scripts.

Order: the training order comes from ``[seed, epoch]`` and ``loader.set_epoch(e, start_batch=b)``
continues epoch ``e`` at batch ``b`` exactly, whatever the number of workers (the engine's exact
resume). The sampler hands the workers ``(epoch, index)`` keys, so workers may be persistent (kept
between epochs) without ever loading a sample at a stale epoch. Creating or iterating a loader
never draws from the global RNG (its worker seeds come from its own generator), or a loader
created on resume would shift the model's random stream (dropout).

Batches: ``{"video", "label", "index", "skipped"}``; ``video`` is uint8 (in the clips' channels-last
memory) and becomes the model's normalised float input on the device through
:meth:`VideoLoader.model_input`. Bad samples (``on_bad_sample: skip``) are dropped and counted in
``skipped``, so a batch whose samples were all bad has batch size 0.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from benchmark.data.dataset import BadSample, build_dataset, stack_in_memory_order
from benchmark.data.dataset_config import DataConfig


class VideoCollate:
    """Stacks good samples, drops ``BadSample`` markers and counts them in ``skipped``."""

    def __init__(self, empty_shape: tuple[int, ...]):
        self.empty_shape = empty_shape

    def __call__(self, items: list) -> dict:
        good = [x for x in items if not isinstance(x, BadSample)]
        skipped = len(items) - len(good)
        if not good:
            return {"video": torch.empty((0, *self.empty_shape), dtype=torch.uint8),
                    "label": torch.empty(0, dtype=torch.long), "index": torch.empty(0, dtype=torch.long),
                    "skipped": skipped}
        return {
            "video": stack_in_memory_order([x["video"] for x in good]),
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


class EpochKeys(Sampler[tuple[int, int]]):
    """An ``EpochSampler``'s indices as ``(epoch, index)`` keys: the epoch reaches (persistent) workers with each sample."""

    def __init__(self, order: EpochSampler):
        self.order = order

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.order.set_epoch(epoch, start)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.order.epoch
        return ((epoch, i) for i in self.order)

    def __len__(self) -> int:
        return len(self.order)


class VideoLoader(DataLoader):
    """A ``DataLoader`` whose epoch (and first batch, for resuming) is set explicitly, and which turns
    its uint8 batches into the model's input on the device (:meth:`model_input`)."""

    def __init__(self, dataset, *, seed: int, mean: Sequence[float], std: Sequence[float], **kwargs):
        super().__init__(dataset, generator=torch.Generator().manual_seed(seed), **kwargs)
        self.seed, self.mean, self.std = seed, tuple(mean), tuple(std)
        self._stats: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch, start_batch * self.batch_size)
        self.generator.manual_seed(self.seed * 100003 + epoch)

    def model_input(self, video: torch.Tensor, device: torch.device | str) -> torch.Tensor:
        """uint8 clips (channel dim -4) -> contiguous float32 ``(x / 255 - mean) / std`` on ``device``.

        The copy is ``non_blocking`` (asynchronous from pinned memory) and the arithmetic runs on the
        device, in the same float32 operations the workers once did (so values are unchanged).
        """
        device = torch.device(device)
        if device not in self._stats:
            shape = (len(self.mean), 1, 1, 1)
            self._stats[device] = (torch.tensor(self.mean, dtype=torch.float32, device=device).view(shape),
                                   torch.tensor(self.std, dtype=torch.float32, device=device).view(shape))
        mean, std = self._stats[device]
        x = video.to(device, non_blocking=True).contiguous()  # reordering uint8 is cheaper than float32
        x = x.to(torch.float32, copy=True)  # a new tensor even for float input: never the caller's
        return x.div_(255.0).sub_(mean).div_(std)


def build_loader(cfg: DataConfig | str | dict, split: str, *, frames: int, mean: Sequence[float],
                 std: Sequence[float], train: bool, batch_size: int, num_clips: int = 1, num_crops: int = 1,
                 seed: int = 0, num_workers: int | None = None, rank: int = 0, world_size: int = 1,
                 drop_last: bool | None = None, device: torch.device | str | None = None,
                 pin_memory: bool | None = None, persistent_workers: bool | None = None,
                 prefetch_factor: int | None = None) -> VideoLoader:
    """Loader of one split's dict batches (see module doc), shuffled and ending on a full batch for
    training, in list order for evaluation; sharded over ``world_size`` ranks. Call ``set_epoch``
    before each training epoch.

    ``device``: where the batches go. On CUDA the defaults become pinned memory (asynchronous
    copies), persistent workers and 4 batches prefetched per worker; elsewhere none of them.
    Explicit ``pin_memory`` / ``persistent_workers`` / ``prefetch_factor`` win; the last two apply
    only with workers."""
    dataset = build_dataset(cfg, split, frames=frames, mean=mean, std=std, train=train,
                            num_clips=num_clips, num_crops=num_crops, seed=seed)
    workers = dataset.cfg.num_workers if num_workers is None else num_workers
    cuda = device is not None and torch.device(device).type == "cuda"
    pin = cuda if pin_memory is None else pin_memory
    persistent = (cuda if persistent_workers is None else persistent_workers) and workers > 0
    prefetch = (prefetch_factor or (4 if cuda else None)) if workers > 0 else None
    sampler = EpochKeys(EpochSampler(len(dataset), shuffle=train, seed=seed, rank=rank, world_size=world_size))
    return VideoLoader(dataset, seed=seed, mean=mean, std=std, batch_size=batch_size, sampler=sampler,
                       num_workers=workers, collate_fn=VideoCollate(dataset.sample_shape),
                       drop_last=train if drop_last is None else drop_last, pin_memory=pin,
                       persistent_workers=persistent, prefetch_factor=prefetch)
