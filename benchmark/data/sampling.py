"""Which frames of a video make a clip (paper 002 §6.1 "Input Sampling", Supplement D.1).

All functions return 0-based frame positions within the video (a frame folder's first file is
position 0, i.e. frame number ``start``). Randomness comes only from the ``rng`` passed in, so a
clip is a pure function of (seed, epoch, index) — what exact resume needs.

Short videos (fewer frames than a clip needs) are handled by looping: positions wrap around
modulo the video length for dense sampling, and uniform sampling repeats frames (segments shorter
than one frame share frames), so every video yields exactly ``frames`` positions.
"""

from __future__ import annotations

import math

import numpy as np


def uniform_train(n: int, frames: int, rng: np.random.Generator, per_segment: bool = False) -> list[int]:
    """T equal segments of ``n // T`` frames, one random frame in each.

    ``per_segment=False`` (the official code) draws one offset shared by every segment, so the
    clip's frames stay equally spaced; ``per_segment=True`` is TSN's one draw per segment.
    Videos shorter than T frames: sorted draws with replacement (frames repeat).
    """
    length = n // frames
    if length == 0:
        return sorted(int(x) for x in rng.integers(0, n, size=frames))
    if per_segment:
        offsets = rng.integers(0, length, size=frames)
        return [k * length + int(o) for k, o in enumerate(offsets)]
    offset = int(rng.integers(0, length))
    return [k * length + offset for k in range(frames)]


def clip_offsets(num_clips: int) -> list[int]:
    """Integer offsets i with -m/2 <= i < m/2 (m=1: [0]; m=2: [-1, 0]; m=3: [-1, 0, 1])."""
    return list(range(math.ceil(-num_clips / 2), math.ceil(num_clips / 2)))


def uniform_test(n: int, frames: int, num_clips: int = 1) -> list[list[int]]:
    """Segment centres, shifted by each clip's integer offset (kept inside its segment)."""
    tick = n / frames
    clips = []
    for offset in clip_offsets(num_clips):
        # A shift may not leave the segment [k*tick, (k+1)*tick).
        shift = min(max(offset, -tick / 2), tick / 2 - 1e-4)
        clips.append([min(n - 1, int(tick / 2 + shift + tick * k)) for k in range(frames)])
    return clips


def dense_train(n: int, frames: int, stride: int, rng: np.random.Generator) -> list[int]:
    """``frames`` positions at ``stride`` from a random start in [0, n - stride*frames); loops if short."""
    highest = n - stride * frames
    start = int(rng.integers(0, highest)) if highest > 0 else 0
    return [(start + k * stride) % n for k in range(frames)]


def dense_test(n: int, frames: int, stride: int, num_clips: int = 1) -> list[list[int]]:
    """m clips whose starts are spread evenly from 0 to n - stride*frames (one clip: the first)."""
    last = max(0, n - stride * frames)
    starts = np.linspace(0, last, num=num_clips).astype(int).tolist() if num_clips > 1 else [0]
    return [[(s + k * stride) % n for k in range(frames)] for s in starts]


def sample_positions(n: int, frames: int, *, sampling: str, train: bool, rng: np.random.Generator,
                     stride: int = 2, num_clips: int = 1, per_segment: bool = False) -> list[list[int]]:
    """The clips (lists of positions) for one video: one clip in training, ``num_clips`` in testing."""
    if n < 1:
        raise ValueError("a video needs at least one frame")
    if sampling == "uniform":
        if train:
            return [uniform_train(n, frames, rng, per_segment) for _ in range(num_clips)]
        return uniform_test(n, frames, num_clips)
    if sampling == "dense":
        if train:
            return [dense_train(n, frames, stride, rng) for _ in range(num_clips)]
        return dense_test(n, frames, stride, num_clips)
    raise ValueError(f"unknown sampling {sampling!r}")
