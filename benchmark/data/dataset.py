"""Datasets and loaders: list entries -> sampled, transformed, normalised clips in dict batches.

Determinism: a sample's frames, crop and flip come from ``numpy.random.default_rng([seed, epoch,
index, stream])`` and the training order from ``[seed, epoch]``, so ``loader.set_epoch(e, start_batch=b)``
reproduces epoch ``e`` from batch ``b`` exactly, whatever the number of workers (the engine's exact
resume). Workers must not be persistent: the epoch reaches them when the dataset is re-sent at the
start of each epoch.

Bad samples: with ``on_bad_sample: fail`` the first one raises a ``DataError`` naming the list
line, file and reason (malformed list lines already when the dataset is built). With ``skip`` a
bad sample comes back as a ``BadSample`` marker; the collate function drops it and counts it in
the batch's ``skipped``, which is correct with any number of workers. A batch whose samples were
all bad has ``video`` with batch size 0.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from benchmark.data.dataset_config import DataConfig, resolve_data_config
from benchmark.data.decode import FrameFolder, VideoFile
from benchmark.data.listfile import Entry, read_frame_list, read_video_list, read_video_tree, tree_classes
from benchmark.data.sampling import sample_positions
from benchmark.data.transforms import eval_views, normalize, train_view
from benchmark.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BadSample:
    index: int
    reason: str


def read_entries(cfg: DataConfig, split: str) -> list[Entry]:
    """The split's entries (malformed ones carry their ``error``)."""
    source = cfg.split_source(split)
    if cfg.format == "frames":
        return read_frame_list(source, cfg.path(""), cfg.num_classes, cfg.separator, cfg.min_frames)
    if source.is_dir():
        # Labels come from the training tree's class folders so that train and val agree.
        classes = tree_classes(cfg.split_source("train"))
        return read_video_tree(source, classes, cfg.num_classes)
    return read_video_list(source, cfg.path(""), cfg.num_classes, cfg.separator)


def open_source(cfg: DataConfig, entry: Entry) -> FrameFolder | VideoFile:
    """The entry's frames reader; raises ``DataError`` for a bad entry or unreadable source."""
    if entry.error:
        raise DataError(entry.error)
    if cfg.format == "frames":
        return FrameFolder(entry.path, entry.start, entry.end, cfg.filename_template, entry.where)
    source = VideoFile(entry.path, entry.where)
    if source.num_frames < cfg.min_frames:
        source.close()
        raise DataError(f"{entry.where}: {entry.path} has {source.num_frames} frames, "
                        f"fewer than min_frames={cfg.min_frames}")
    return source


class VideoDataset(Dataset):
    """One split of a dataset. Items: ``{"video", "label", "index"}`` or a ``BadSample`` (skip mode)."""

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

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.entries)

    def rng(self, index: int, stream: int = 0) -> np.random.Generator:
        """Sample ``index``'s random stream (0: frames, 1: crop/flip) for the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, index, stream])

    def positions(self, index: int, num_frames: int) -> list[list[int]]:
        """The clips' frame positions for entry ``index`` of a video with ``num_frames`` frames."""
        cfg = self.cfg
        return sample_positions(num_frames, self.frames, sampling=cfg.sampling, train=self.train,
                                rng=self.rng(index), stride=cfg.dense_stride, num_clips=self.num_clips,
                                per_segment=cfg.uniform_offset == "per_segment")

    def __getitem__(self, index: int):
        entry = self.entries[index]
        try:
            return self._load(entry)
        except DataError as exc:
            if self.cfg.on_bad_sample == "fail":
                raise
            if entry.index not in self._warned:
                self._warned.add(entry.index)
                log.warning("skipping bad sample: %s", exc)
            return BadSample(entry.index, str(exc))

    def _load(self, entry: Entry) -> dict:
        cfg = self.cfg
        source = open_source(cfg, entry)
        clips = self.positions(entry.index, source.num_frames)
        flat = [p for clip in clips for p in clip]
        frames = source.read(flat)
        rng = self.rng(entry.index, stream=1)
        views = []
        for c in range(len(clips)):
            clip = frames[c * self.frames:(c + 1) * self.frames]
            if self.train:
                views.append(train_view(clip, resize=cfg.resize, crop=cfg.crop, scales=cfg.scales,
                                        flip=cfg.flip, rng=rng))
            else:
                views.extend(eval_views(clip, resize=cfg.resize, crop=cfg.crop, num_crops=self.num_crops))
        tensors = [normalize(v, self.mean, self.std) for v in views]
        video = tensors[0] if len(tensors) == 1 else torch.stack(tensors)
        return {"video": video, "label": entry.label, "index": entry.index}


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

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch, start_batch * self.batch_size)


def build_dataset(cfg: DataConfig | str | dict, split: str, *, frames: int, mean: Sequence[float],
                  std: Sequence[float], train: bool, num_clips: int = 1, num_crops: int = 1,
                  seed: int = 0) -> VideoDataset:
    """The split (``train`` or ``val``) of a dataset, clips of ``frames`` frames normalised by mean/std."""
    return VideoDataset(resolve_data_config(cfg), split, frames=frames, mean=mean, std=std, train=train,
                        num_clips=num_clips, num_crops=num_crops, seed=seed)


def build_loader(cfg: DataConfig | str | dict, split: str, *, frames: int, mean: Sequence[float],
                 std: Sequence[float], train: bool, batch_size: int, num_clips: int = 1, num_crops: int = 1,
                 seed: int = 0, num_workers: int | None = None, rank: int = 0, world_size: int = 1,
                 drop_last: bool | None = None) -> VideoLoader:
    """Loader of dict batches (see module doc); call ``set_epoch`` before each epoch."""
    dataset = build_dataset(cfg, split, frames=frames, mean=mean, std=std, train=train,
                            num_clips=num_clips, num_crops=num_crops, seed=seed)
    c = dataset.cfg
    workers = c.num_workers if num_workers is None else num_workers
    view = (3, frames, c.crop, c.crop)
    shape = view if dataset.num_views == 1 else (dataset.num_views, *view)
    if not train and dataset.num_crops == 3:
        shape = (dataset.num_views, 3, frames, c.resize, c.resize)
    sampler = EpochSampler(len(dataset), shuffle=train, seed=seed, rank=rank, world_size=world_size)
    return VideoLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                       collate_fn=VideoCollate(shape), drop_last=train if drop_last is None else drop_last,
                       pin_memory=False, persistent_workers=False)
