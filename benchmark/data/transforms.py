"""Spatial transforms of uint8 clips (T, 3, H, W) with ``torchvision.transforms.v2`` functionals.

Random choices are drawn from the ``numpy.random.Generator`` passed in (never torch's global RNG),
so a clip's crop and flip are a pure function of (seed, epoch, index), and every frame of a clip
gets the same crop and flip.

Training (TSN / official code): resize the short side to ``resize``; multi-scale crop whose width
and height are each one of ``scale x short side`` (scales 1, .875, .75, .66; width and height at
most one scale step apart), placed at one of 13 fixed positions (corners, centre, edge midpoints,
quarter points), resized to ``crop x crop``; horizontal flip with probability 1/2 when allowed.
Evaluation: resize short side to ``resize``, centre crop ``crop``; 3 crops = the left/centre/right
(or top/centre/bottom) squares of side ``resize`` (the paper's "3 x 256 x 256"); 10 crops = the
four corners and the centre of side ``crop``, plus their horizontal flips.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F
from torchvision.tv_tensors import Video


def resize_short(clip: torch.Tensor, size: int) -> torch.Tensor:
    h, w = clip.shape[-2:]
    if min(h, w) == size:
        return clip
    return F.resize(Video(clip), [size], interpolation=InterpolationMode.BILINEAR, antialias=True).as_subclass(torch.Tensor)


def multiscale_crop_box(h: int, w: int, scales: Sequence[float], rng: np.random.Generator,
                        max_distort: int = 1) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a TSN multi-scale crop of an h x w image."""
    base = min(h, w)
    sizes = [int(base * s) for s in scales]
    pairs = [(ch, cw) for i, ch in enumerate(sizes) for j, cw in enumerate(sizes) if abs(i - j) <= max_distort]
    ch, cw = pairs[int(rng.integers(len(pairs)))]
    ys, xs = (h - ch) / 4, (w - cw) / 4
    # 13 fixed positions: 4 corners, centre, 4 edge midpoints, 4 quarter points.
    grid = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2), (0, 2), (4, 2), (2, 0), (2, 4),
            (1, 1), (1, 3), (3, 1), (3, 3)]
    gy, gx = grid[int(rng.integers(len(grid)))]
    return int(gy * ys), int(gx * xs), ch, cw


def train_view(clip: torch.Tensor, *, resize: int, crop: int, scales: Sequence[float], flip: bool,
               rng: np.random.Generator) -> torch.Tensor:
    clip = resize_short(clip, resize)
    top, left, ch, cw = multiscale_crop_box(*clip.shape[-2:], scales, rng)
    out = F.resized_crop(Video(clip), top, left, ch, cw, [crop, crop],
                         interpolation=InterpolationMode.BILINEAR, antialias=True)
    if flip and rng.random() < 0.5:
        out = F.horizontal_flip(out)
    return out.as_subclass(torch.Tensor)


def eval_views(clip: torch.Tensor, *, resize: int, crop: int, num_crops: int) -> list[torch.Tensor]:
    """The ``num_crops`` (1, 3 or 10) deterministic views of a clip."""
    clip = resize_short(clip, resize)
    video = Video(clip)
    h, w = clip.shape[-2:]
    if num_crops == 1:
        views = [F.center_crop(video, [crop, crop])]
    elif num_crops == 3:
        side = min(h, w)
        if w >= h:
            boxes = [(0, x) for x in (0, (w - side) // 2, w - side)]
        else:
            boxes = [(y, 0) for y in (0, (h - side) // 2, h - side)]
        views = [F.crop(video, t, left, side, side) for t, left in boxes]
    elif num_crops == 10:
        five = list(F.five_crop(video, [crop, crop]))
        corners_then_centre = five[:4] + five[4:]
        views = corners_then_centre + [F.horizontal_flip(v) for v in corners_then_centre]
    else:
        raise ValueError(f"num_crops must be 1, 3 or 10, got {num_crops}")
    return [v.as_subclass(torch.Tensor) for v in views]


def normalize(clip: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (T, 3, H, W) -> float (3, T, H, W) normalised on the 0..1 scale."""
    x = clip.to(torch.float32).div_(255.0)
    x = F.normalize(x, list(mean), list(std))
    return x.permute(1, 0, 2, 3).contiguous()
