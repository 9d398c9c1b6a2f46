"""Spatial transforms of decoded frames into uint8 clip views, cropping before anything is stacked.

A view is planned on the frame geometry alone (:class:`View`: a box in original pixels, an output
size, a flip) and then rendered from the decoded frames: each frame's box is copied into one
buffer, only that buffer is resized, and it stays uint8 (normalisation happens on the device, see
``VideoLoader.model_input``). Rendering in the frames' own pixel-interleaved memory (what the JPEG
decoder produces) lets the uint8 antialiased resize run without layout conversions; a clip comes
back as ``(T, 3, H, W)`` in that channels-last memory.

Random choices are drawn from the ``numpy.random.Generator`` passed in (never torch's global RNG),
in the same order as ever (crop size, position, then flip), so a clip's crop and flip are a pure
function of (seed, epoch, index), and every frame of a clip gets the same crop and flip.

Training (TSN / official code): resize the short side to ``resize``; multi-scale crop whose width
and height are each one of ``scale x short side`` (scales 1, .875, .75, .66; width and height at
most one scale step apart), placed at one of 13 fixed positions (corners, centre, edge midpoints,
quarter points), resized to ``crop x crop``; horizontal flip with probability 1/2 when allowed.
Training with ``train_crop: jitter`` (SlowFast): short side drawn from ``jitter_range``, a random
``crop x crop`` square of it, the same flip.
Evaluation: resize short side to ``resize``, centre crop ``crop``; 3 crops = the left/centre/right
(or top/centre/bottom) squares of side ``resize`` (the paper's "3 x 256 x 256"); 10 crops = the
four corners and the centre of side ``crop``, plus their horizontal flips.

Boxes are chosen in the coordinates of the frame resized to ``resize`` (so they are the boxes of
resize-then-crop) and mapped back to the original frame; only that region is resampled. When the
short side already equals ``resize`` (frames extracted at 256, the usual case) nothing changes:
the pixels equal resize-then-crop's exactly. Otherwise the single resampling of the region differs
from resampling twice by interpolation-order effects only (a few grey levels on natural images),
and a mapped box may sit up to half an original pixel away. Evaluation views resize the whole frame
once instead, so they equal the former views exactly (and each other where they coincide).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch.nn import functional as nnf

# The 13 fixed TSN positions on a 4 x 4 grid of steps: 4 corners, centre, 4 edge midpoints, 4 quarter points.
GRID = ((0, 0), (0, 4), (4, 0), (4, 4), (2, 2), (0, 2), (4, 2), (2, 0), (2, 4), (1, 1), (1, 3), (3, 1), (3, 3))


@dataclass(frozen=True)
class View:
    """One view of a clip: ``box`` (top, left, height, width), output (h, w), flip.

    ``box`` is in original pixels, unless ``frame`` is set: then the whole frame is first resized to
    ``frame`` (once for all the views that share it) and ``box`` is in those pixels.
    """

    box: tuple[int, int, int, int]
    size: tuple[int, int]
    flip: bool = False
    frame: tuple[int, int] | None = None


def resized_shape(h: int, w: int, size: int) -> tuple[int, int]:
    """(h, w) after resizing the short side to ``size`` (torchvision's rule: long side truncated)."""
    if min(h, w) == size:
        return h, w
    if w <= h:
        return int(size * h / w), size
    return size, int(size * w / h)


def multiscale_crop_box(h: int, w: int, scales: Sequence[float], rng: np.random.Generator,
                        max_distort: int = 1) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a TSN multi-scale crop of an h x w image."""
    base = min(h, w)
    sizes = [int(base * s) for s in scales]
    pairs = [(ch, cw) for i, ch in enumerate(sizes) for j, cw in enumerate(sizes) if abs(i - j) <= max_distort]
    ch, cw = pairs[int(rng.integers(len(pairs)))]
    ys, xs = (h - ch) / 4, (w - cw) / 4
    gy, gx = GRID[int(rng.integers(len(GRID)))]
    return int(gy * ys), int(gx * xs), ch, cw


def to_original(box: tuple[int, int, int, int], h: int, w: int, rh: int, rw: int) -> tuple[int, int, int, int]:
    """A box of the frame resized to (rh, rw), in the original h x w frame's pixels (at least 1 x 1)."""
    if (rh, rw) == (h, w):
        return box
    top, left, bh, bw = box
    sy, sx = h / rh, w / rw
    y0, x0 = min(round(top * sy), h - 1), min(round(left * sx), w - 1)
    y1, x1 = min(max(round((top + bh) * sy), y0 + 1), h), min(max(round((left + bw) * sx), x0 + 1), w)
    return y0, x0, y1 - y0, x1 - x0


def train_view(h: int, w: int, *, resize: int, crop: int, scales: Sequence[float], flip: bool,
               rng: np.random.Generator) -> View:
    """The training view of an h x w clip: multi-scale crop of the resized frame, then a coin for the flip."""
    rh, rw = resized_shape(h, w, resize)
    box = multiscale_crop_box(rh, rw, scales, rng)
    flipped = bool(flip and rng.random() < 0.5)
    return View(to_original(box, h, w, rh, rw), (crop, crop), flipped)


def jitter_view(h: int, w: int, *, jitter_range: tuple[int, int], crop: int, flip: bool,
                rng: np.random.Generator) -> View:
    """SlowFast's training view: short side drawn uniformly from ``jitter_range`` (integers, both
    ends included), a ``crop`` x ``crop`` square at a uniformly random position, then the flip coin."""
    side = int(rng.integers(jitter_range[0], jitter_range[1] + 1))
    rh, rw = resized_shape(h, w, side)
    top, left = int(rng.integers(0, rh - crop + 1)), int(rng.integers(0, rw - crop + 1))
    flipped = bool(flip and rng.random() < 0.5)
    return View(to_original((top, left, crop, crop), h, w, rh, rw), (crop, crop), flipped)


def eval_views(h: int, w: int, *, resize: int, crop: int, num_crops: int) -> list[View]:
    """The ``num_crops`` (1, 3 or 10) deterministic views of an h x w clip.

    A frame that needs resizing is resized whole, once for all the views, and then cropped (exactly
    as before the crop-first pipeline): the single centre crop must equal the 10 crops' centre view,
    so that fewer views can be derived from a test's kept logits (``benchmark.analysis.clip_count``).
    """
    rh, rw = resized_shape(h, w, resize)
    if num_crops == 3:
        side = min(rh, rw)
        if rw >= rh:
            boxes = [(0, x, side, side) for x in (0, (rw - side) // 2, rw - side)]
        else:
            boxes = [(y, 0, side, side) for y in (0, (rh - side) // 2, rh - side)]
    elif num_crops in (1, 10):
        cy, cx = int(round((rh - crop) / 2.0)), int(round((rw - crop) / 2.0))  # torchvision's centre crop
        corners = [(0, 0), (0, rw - crop), (rh - crop, 0), (rh - crop, rw - crop)] if num_crops == 10 else []
        boxes = [(t, left, crop, crop) for t, left in [*corners, (cy, cx)]]
    else:
        raise ValueError(f"num_crops must be 1, 3 or 10, got {num_crops}")
    if (rh, rw) == (h, w):
        views = [View(b, b[2:]) for b in boxes]
    else:
        views = [View(b, b[2:], frame=(rh, rw)) for b in boxes]
    return views + [replace(v, flip=True) for v in views] if num_crops == 10 else views


def crop_frames(frames: Sequence[torch.Tensor], box: tuple[int, int, int, int]) -> torch.Tensor:
    """The box of every ``(3, H, W)`` frame, copied into one ``(T, 3, h, w)`` channels-last buffer."""
    top, left, bh, bw = box
    out = torch.empty((len(frames), bh, bw, 3), dtype=torch.uint8)
    for k, frame in enumerate(frames):
        out[k] = frame[:, top:top + bh, left:left + bw].permute(1, 2, 0)
    return out.permute(0, 3, 1, 2)


def resize_frames(clip: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 ``(T, 3, h, w)`` -> ``(T, 3, *size)``: bilinear with antialiasing (a no-op at the same size)."""
    if tuple(clip.shape[-2:]) == tuple(size):
        return clip
    return nnf.interpolate(clip, size=list(size), mode="bilinear", antialias=True, align_corners=False)


def render(frames: Sequence[torch.Tensor], views: Sequence[View]) -> list[torch.Tensor]:
    """Each view of a clip's frames as uint8 ``(T, 3, h, w)``; views sharing a box are resized once."""
    done: dict[tuple, torch.Tensor] = {}
    out = []
    for view in views:
        key = (view.box, view.size, view.frame)
        if key not in done:
            if view.frame is None:
                done[key] = resize_frames(crop_frames(frames, view.box), view.size)
            else:
                whole = (view.frame, "whole")
                if whole not in done:
                    done[whole] = resize_frames(crop_frames(frames, (0, 0, *frames[0].shape[-2:])), view.frame)
                top, left, bh, bw = view.box
                done[key] = resize_frames(done[whole][..., top:top + bh, left:left + bw], view.size)
        out.append(done[key].flip(-1) if view.flip else done[key])
    return out
