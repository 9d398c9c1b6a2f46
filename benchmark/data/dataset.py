"""Datasets: list entries -> sampled, cropped uint8 clips (batched by ``loader.py``).

Items stay uint8: the loader normalises a batch on the device (``VideoLoader.model_input``), so
workers neither convert to float nor ship four times the bytes. ``mean``/``std`` are kept here for
that step.

Determinism: a sample's frames, crop and flip come from ``numpy.random.default_rng([seed, epoch,
index, stream])``, so a sample is a pure function of (seed, epoch, index) whatever the number of
workers (the engine's exact resume). The epoch travels with the index (the loader's sampler yields
``(epoch, index)`` keys), so persistent workers never see a stale epoch; a bare integer index uses
``set_epoch``'s. How a video is stored is the dataset format's business
(``benchmark.data.formats``); this module only asks its reader for entries and frames.

Bad samples: with ``on_bad_sample: fail`` the first one raises a ``DataError`` naming the list
line, file and reason (malformed list lines already when the dataset is built). With ``skip`` a
bad sample comes back as a ``BadSample`` marker, which the loader's collate drops and counts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from benchmark.data.dataset_config import DataConfig, resolve_data_config
from benchmark.data.formats import format_reader, open_entry, read_frame_list
from benchmark.data.listfile import Entry
from benchmark.data.sampling import sample_positions
from benchmark.data.transforms import eval_views, jitter_view, render, train_view
from benchmark.errors import ConfigError, DataError

log = logging.getLogger(__name__)


def stack_in_memory_order(tensors: list[torch.Tensor]) -> torch.Tensor:
    """``torch.stack`` that keeps the tensors' memory layout (e.g. channels-last clips) instead of
    reordering every element into the default one; falls back to a plain stack when they differ."""
    first = tensors[0]
    order = sorted(range(first.dim()), key=lambda d: -first.stride(d))  # outermost dimension first
    dense = [t.permute(order) for t in tensors]
    if not all(d.is_contiguous() and d.shape == dense[0].shape for d in dense):
        return torch.stack(tensors)
    inverse = [0] + [1 + order.index(d) for d in range(first.dim())]
    return torch.stack(dense).permute(inverse)


@dataclass(frozen=True)
class BadSample:
    index: int
    reason: str


def read_entries(cfg: DataConfig, split: str) -> list[Entry]:
    """The split's entries, listed by the dataset format's reader (malformed ones carry their ``error``)."""
    return format_reader(cfg.format).read_entries(cfg, split)


class VideoDataset(Dataset):
    """One split of a dataset. Items: ``{"video" (uint8), "label", "index"}`` or a ``BadSample`` (skip mode).

    Indexed by an entry number (at the ``set_epoch`` epoch) or by an ``(epoch, index)`` pair.
    """

    def __init__(self, cfg: DataConfig, split: str, *, frames: int, mean: Sequence[float],
                 std: Sequence[float], train: bool, num_clips: int = 1, num_crops: int = 1, seed: int = 0):
        if frames < 1 or num_clips < 1:
            raise ConfigError(f"dataset {cfg.name}: frames and num_clips must be >= 1")
        if num_crops not in (1, 3, 10):
            raise ConfigError(f"dataset {cfg.name}: num_crops must be 1, 3 or 10, got {num_crops}")
        if num_crops == 10 and not cfg.flip:
            raise ConfigError(f"dataset {cfg.name}: 10-crop testing includes horizontal flips, which this "
                              "dataset disables (flip: false); use 1 or 3 crops")
        self.cfg, self.split, self.frames, self.train = cfg, split, frames, train
        self.mean, self.std = tuple(mean), tuple(std)
        self.num_clips, self.num_crops, self.seed = num_clips, num_crops, seed
        self.epoch = 0
        self.entries = read_entries(cfg, split)
        self.bad_entries = [e for e in self.entries if e.error]
        if self.bad_entries:
            if cfg.on_bad_sample == "fail":
                more = f" (and {len(self.bad_entries) - 1} more bad lines)" if len(self.bad_entries) > 1 else ""
                raise DataError(self.bad_entries[0].error + more)
            log.warning("%s: %d malformed list entries will be skipped, first: %s",
                        cfg.name, len(self.bad_entries), self.bad_entries[0].error)
        self._warned: set[int] = set()

    @property
    def num_views(self) -> int:
        return self.num_clips * (1 if self.train else self.num_crops)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """One item's ``video`` shape (also an all-bad batch's, minus the batch dimension)."""
        size = self.cfg.crop
        if not self.train and self.num_crops == 3:  # 3-crop testing keeps the full resized frame
            size = self.cfg.resize
        view = (3, self.frames, size, size)
        return view if self.num_views == 1 else (self.num_views, *view)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.entries)

    def rng(self, index: int, stream: int = 0, epoch: int | None = None) -> np.random.Generator:
        """Sample ``index``'s random stream (0: frames, 1: crop/flip) for ``epoch`` (default: the current)."""
        return np.random.default_rng([self.seed, self.epoch if epoch is None else epoch, index, stream])

    def positions(self, index: int, num_frames: int, epoch: int | None = None) -> list[list[int]]:
        """The clips' frame positions for entry ``index`` of a video with ``num_frames`` frames."""
        cfg = self.cfg
        return sample_positions(num_frames, self.frames, sampling=cfg.sampling, train=self.train,
                                rng=self.rng(index, 0, epoch), stride=cfg.dense_stride, num_clips=self.num_clips,
                                per_segment=cfg.uniform_offset == "per_segment")

    def __getitem__(self, key: int | tuple[int, int]):
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        entry = self.entries[index]
        try:
            return self._load(entry, epoch)
        except DataError as exc:
            if self.cfg.on_bad_sample == "fail":
                raise
            if entry.index not in self._warned:
                self._warned.add(entry.index)
                log.warning("skipping bad sample: %s", exc)
            return BadSample(entry.index, str(exc))

    def _load(self, entry: Entry, epoch: int) -> dict:
        cfg = self.cfg
        source = open_entry(cfg, entry)
        clips = self.positions(entry.index, source.num_frames, epoch)
        frames = read_frame_list(source, [p for clip in clips for p in clip])
        h, w = frames[0].shape[-2:]
        if any(f.shape[-2:] != (h, w) for f in frames):
            sizes = sorted({f"{f.shape[-1]}x{f.shape[-2]}" for f in frames})
            raise DataError(f"{entry.where}: {entry.path} mixes frame sizes ({', '.join(sizes)})")
        rng = self.rng(entry.index, stream=1, epoch=epoch)
        views = []
        for c in range(len(clips)):
            clip = frames[c * self.frames:(c + 1) * self.frames]
            if self.train and cfg.train_crop == "jitter":
                plan = [jitter_view(h, w, jitter_range=cfg.jitter_range, crop=cfg.crop, flip=cfg.flip, rng=rng)]
            elif self.train:
                plan = [train_view(h, w, resize=cfg.resize, crop=cfg.crop, scales=cfg.scales, flip=cfg.flip,
                                   rng=rng)]
            else:
                plan = eval_views(h, w, resize=cfg.resize, crop=cfg.crop, num_crops=self.num_crops)
            views.extend(v.transpose(0, 1) for v in render(clip, plan))  # (3, T, h, w)
        video = views[0] if len(views) == 1 else stack_in_memory_order(views)
        return {"video": video, "label": entry.label, "index": entry.index}


def build_dataset(cfg: DataConfig | str | dict, split: str, *, frames: int, mean: Sequence[float],
                  std: Sequence[float], train: bool, num_clips: int = 1, num_crops: int = 1,
                  seed: int = 0) -> VideoDataset:
    """The split (``train`` or ``val``) of a dataset: uint8 clips of ``frames`` frames (mean/std: for the loader)."""
    return VideoDataset(resolve_data_config(cfg), split, frames=frames, mean=mean, std=std, train=train,
                        num_clips=num_clips, num_crops=num_crops, seed=seed)
