"""Loader throughput on your own storage: the suite's loader beside an ARP-style PIL loader.

``stbench data bench LIST`` times training-mode loading (sampling, multi-scale crop, flip) of a
list's clips for each clip length and worker count, with both loaders measured alternately in the
same process on the same clips, so their ratio holds on a busy machine. The baseline does what the
official code (IBM/action-recognition-pytorch, TSN's transforms) does per frame: open with PIL,
convert to RGB, crop and resize with PIL, flip, stack into a float tensor and normalise; the suite
decodes with libjpeg-turbo, crops before stacking, resizes only the crop and stays uint8 until the
device. The baseline reads JPEG frame folders only (other formats get the suite's rate alone).

Rates exclude the first batch (worker start-up); workers are persistent, so a pass that wraps
into the next epoch pays no new start-up. Library code: returns rows, prints nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from benchmark.data.dataset import VideoDataset
from benchmark.data.dataset_config import DataConfig
from benchmark.data.formats import open_entry
from benchmark.data.loader import EpochKeys, EpochSampler, build_loader
from benchmark.data.transforms import multiscale_crop_box, resized_shape
from benchmark.errors import ConfigError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass
class BenchRow:
    """One configuration: clips/s of the suite's loader and of the PIL baseline (None: not measured)."""

    frames: int
    workers: int
    batch_size: int
    clips: int  # clips timed per loader and round
    stbench_clips_per_s: float
    pil_clips_per_s: float | None
    ratio: float | None  # stbench / pil

    def as_dict(self) -> dict:
        return asdict(self)


class PilClips(Dataset):
    """The ARP-style baseline over a suite dataset's entries, positions and crop draws (same work, same clips)."""

    def __init__(self, suite: VideoDataset, mean: Sequence[float], std: Sequence[float]):
        self.suite = suite
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)

    def __len__(self) -> int:
        return len(self.suite)

    def __getitem__(self, key: tuple[int, int]) -> torch.Tensor:
        epoch, index = key
        ds, cfg = self.suite, self.suite.cfg
        entry = ds.entries[index]
        folder = open_entry(cfg, entry)
        (positions,) = ds.positions(index, folder.num_frames, epoch)
        images = [Image.open(folder.folder / folder.template.format(folder.start + p)).convert("RGB")
                  for p in positions]
        w, h = images[0].size
        rh, rw = resized_shape(h, w, cfg.resize)
        if (rh, rw) != (h, w):  # TSN's GroupScale, when the frames are not stored at the training size
            images = [im.resize((rw, rh), Image.BILINEAR) for im in images]
        rng = ds.rng(index, stream=1, epoch=epoch)
        top, left, ch, cw = multiscale_crop_box(rh, rw, cfg.scales, rng)
        images = [im.crop((left, top, left + cw, top + ch)).resize((cfg.crop, cfg.crop), Image.BILINEAR)
                  for im in images]
        if cfg.flip and rng.random() < 0.5:
            images = [im.transpose(Image.FLIP_LEFT_RIGHT) for im in images]
        stacked = np.concatenate([np.asarray(im) for im in images], axis=2)  # (H, W, 3T), like ARP's Stack
        x = torch.from_numpy(stacked).permute(2, 0, 1).contiguous().float().div(255)
        x = x.view(len(images), 3, cfg.crop, cfg.crop).sub_(self.mean).div_(self.std)
        return x.transpose(0, 1)  # (3, T, H, W)


def _stack(items: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(items)


def pil_loader(suite: VideoDataset, *, batch_size: int, workers: int, seed: int,
               mean: Sequence[float], std: Sequence[float]) -> DataLoader:
    """A plain ``DataLoader`` of the baseline, in the suite's training order (its sampler is ``.sampler``)."""
    sampler = EpochKeys(EpochSampler(len(suite), shuffle=True, seed=seed))
    return DataLoader(PilClips(suite, mean, std), batch_size=batch_size, sampler=sampler, num_workers=workers,
                      collate_fn=_stack, drop_last=True, persistent_workers=workers > 0)


def timed_batches(loader: DataLoader, batches: int, consume: Callable[[object], int]) -> tuple[int, float]:
    """(clips, seconds) of ``batches`` batches after the first; wraps into further epochs if needed."""
    epoch = 0
    loader.sampler.set_epoch(epoch)
    it = iter(loader)
    next(it)
    clips, start = 0, time.perf_counter()
    while batches > 0:
        try:
            batch = next(it)
        except StopIteration:
            epoch += 1
            loader.sampler.set_epoch(epoch)
            it = iter(loader)
            continue
        clips += consume(batch)
        batches -= 1
    return clips, time.perf_counter() - start


def bench_loaders(cfg: DataConfig, split: str = "train", *, frames: Sequence[int] = (8, 16),
                  workers: Sequence[int] = (0, 2), batches: int = 8, batch_size: int = 4, rounds: int = 2,
                  seed: int = 0, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                  normalise_on_cpu: bool = False) -> list[BenchRow]:
    """One row per (frames, workers): each loader's best rate over ``rounds`` alternating rounds.

    ``normalise_on_cpu`` counts the suite's ``model_input`` on the CPU too (what a CPU-only run
    pays in its main process; on a GPU that step runs on the device).
    """
    if batches < 1 or rounds < 1 or batch_size < 1:
        raise ConfigError("data bench: --batches, --rounds and --batch-size must be >= 1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # per process, as PIL (and every DataLoader worker) runs
    try:
        return [_bench_one(cfg, split, t, n, batches=batches, batch_size=batch_size, rounds=rounds, seed=seed,
                           mean=mean, std=std, normalise_on_cpu=normalise_on_cpu)
                for t in frames for n in workers]
    finally:
        torch.set_num_threads(threads)


def _bench_one(cfg: DataConfig, split: str, t: int, n: int, *, batches: int, batch_size: int, rounds: int,
               seed: int, mean: Sequence[float], std: Sequence[float], normalise_on_cpu: bool) -> BenchRow:
    """Both loaders for ``t`` frames and ``n`` workers, alternating for ``rounds`` rounds."""
    suite = build_loader(cfg, split, frames=t, mean=mean, std=std, train=True, batch_size=batch_size,
                         num_workers=n, seed=seed, persistent_workers=True)
    if len(suite) < 1:
        raise ConfigError(f"data bench: {cfg.split_source(split)} has fewer than {batch_size} clips")
    pil = pil_loader(suite.dataset, batch_size=batch_size, workers=n, seed=seed, mean=mean,
                     std=std) if cfg.format == "frames" else None

    def consume(batch) -> int:
        if normalise_on_cpu:
            suite.model_input(batch["video"], "cpu")
        return len(batch["video"])

    best = {"stbench": 0.0, "pil": 0.0}
    for _ in range(rounds):
        clips, seconds = timed_batches(suite, batches, consume)
        best["stbench"] = max(best["stbench"], clips / seconds)
        if pil is not None:
            clips, seconds = timed_batches(pil, batches, len)
            best["pil"] = max(best["pil"], clips / seconds)
    base = best["pil"] if pil is not None else None
    return BenchRow(t, n, batch_size, batches * batch_size, best["stbench"], base,
                    best["stbench"] / base if base else None)
