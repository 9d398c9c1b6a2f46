"""Synthetic video datasets that separate temporal from spatial modelling, written as real files.

*temporal* (4 classes): a full-width bar of random colour at a random height on a black torus
(positions wrap around) moves vertically at one speed: {slow, fast} x {up, down}. Every single
frame has the same appearance distribution in every class, so a per-frame model (TSN) is at
chance. Speed is visible to time-symmetric operators (a max over 3 frames makes a streak whose
length grows with speed: temporal pooling gets 2 of the 4 classes), but direction is a
time-reversal, invisible to them: only real temporal modelling (TAM, TSM, I3D, ...) solves all 4.
Motion is vertical so that a horizontal flip cannot change a label.

*spatial* (4 classes): one object whose shape is the class (square, plus, horizontal bar, vertical
bar: distinct even after a ResNet stem's 4x downsampling of 32 px frames), random colour, drifting by at most 1 px per frame in a random direction independent of
the class and staying whole inside the frame: frame order carries no information, and a single
frame suffices.

Layout of ``out_dir``: ``frames/<split>/<video>/00001.jpg...`` with official frame lists
``train.txt``/``val.txt`` (``<folder> 1 <T> <label>``), ``videos/<split>/<video>.mp4`` (H.264) with
``train_videos.txt``/``val_videos.txt`` (``<path> <label>``), ``classes.txt`` and ``info.json``.
Everything is a function of the seed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from benchmark.data.encode import write_frames, write_video
from benchmark.errors import ConfigError

log = logging.getLogger(__name__)

KINDS = ("temporal", "spatial")
CLASSES = {
    "temporal": ["slow up", "slow down", "fast up", "fast down"],
    "spatial": ["square", "plus", "horizontal bar", "vertical bar"],
}
# Bright, saturated colours: high contrast against the black background, shared by all classes.
PALETTE = np.array([
    [255, 255, 255], [255, 60, 60], [60, 255, 60], [80, 120, 255],
    [255, 255, 60], [255, 60, 255], [60, 255, 255], [255, 160, 40],
], dtype=np.uint8)
FORMATS = ("frames", "video")
# Bumped whenever the generated content changes, so an older dataset on disk is regenerated.
GENERATOR_VERSION = 3


def _paint(frame: np.ndarray, mask: np.ndarray, top: int, left: int, colour: np.ndarray) -> None:
    """Paint ``mask`` at (top, left) on a torus (coordinates wrap around the frame)."""
    h, w = frame.shape[:2]
    rows = (top + np.arange(mask.shape[0])) % h
    cols = (left + np.arange(mask.shape[1])) % w
    patch = frame[np.ix_(rows, cols)]
    patch[mask] = colour
    frame[np.ix_(rows, cols)] = patch


def shape_mask(kind: str, side: int) -> np.ndarray:
    c = (side - 1) / 2
    band = np.abs(np.arange(side) - c) <= side / 6  # the middle third
    if kind == "square":
        return np.ones((side, side), bool)
    if kind == "plus":
        return band[:, None] | band[None, :]
    if kind == "horizontal bar":
        return np.broadcast_to(band[:, None], (side, side)).copy()
    if kind == "vertical bar":
        return np.broadcast_to(band[None, :], (side, side)).copy()
    raise ValueError(kind)


# Temporal set: pixels per frame (at 32 px; scaled with the size) of the slow and fast classes and
# the bar height as a fraction of the frame. Full-width bars: every column carries the motion, so
# temporal models learn it from scratch in a few hundred steps (small squares took far longer).
SPEEDS = (2, 5)
BAR_FRACTION = 0.2


def temporal_video(label: int, size: int, frames: int, rng: np.random.Generator) -> np.ndarray:
    speed = SPEEDS[label // 2] * max(1, size // 32)
    direction = 1 if label % 2 else -1  # down / up
    mask = np.ones((max(2, int(size * BAR_FRACTION)), size), bool)
    top, colour = int(rng.integers(size)), PALETTE[rng.integers(len(PALETTE))]
    video = np.zeros((frames, size, size, 3), np.uint8)
    for t in range(frames):
        _paint(video[t], mask, top + direction * speed * t, 0, colour)
    return video


def spatial_video(label: int, size: int, frames: int, rng: np.random.Generator) -> np.ndarray:
    """The class shape drifting at most 1 px per frame, whole inside the frame at every step (a
    shape split across the wrap-around edges would be a different picture, not the class)."""
    side = max(5, (size * 2) // 5)
    mask = shape_mask(CLASSES["spatial"][label], side)
    colour = PALETTE[rng.integers(len(PALETTE))]
    room = size - side  # top-left positions that keep the shape inside
    velocity = rng.integers(-1, 2, size=2) if room >= frames - 1 else np.zeros(2, int)
    travel = np.abs(velocity) * (frames - 1)
    start = [int(rng.integers(room - travel[i] + 1)) + (travel[i] if velocity[i] < 0 else 0) for i in range(2)]
    video = np.zeros((frames, size, size, 3), np.uint8)
    for t in range(frames):
        _paint(video[t], mask, start[0] + int(velocity[0]) * t, start[1] + int(velocity[1]) * t, colour)
    return video


def generate(kind: str, out_dir: str | Path, num_train: int = 800, num_val: int = 200, size: int = 32,
             frames_per_video: int = 16, seed: int = 0, formats: tuple[str, ...] = ("frames", "video"),
             overwrite: bool = False) -> dict:
    """Write the dataset (see module doc); returns its ``info.json`` content.

    An existing dataset with the same parameters is reused unless ``overwrite``.
    """
    if kind not in KINDS:
        raise ConfigError(f"synthetic kind {kind!r} unknown (valid kinds: {', '.join(KINDS)})")
    for fmt in formats:
        if fmt not in FORMATS:
            raise ConfigError(f"synthetic format {fmt!r} unknown (valid formats: {', '.join(FORMATS)})")
    if size < 16 or size % 2:
        raise ConfigError(f"synthetic size must be an even number >= 16, got {size}")
    if frames_per_video < 2 or num_train < 1 or num_val < 1:
        raise ConfigError("synthetic: frames_per_video must be >= 2, num_train and num_val >= 1")
    out = Path(out_dir)
    info = {"generator_version": GENERATOR_VERSION, "kind": kind, "num_train": num_train, "num_val": num_val, "size": size,
            "frames_per_video": frames_per_video, "seed": seed, "formats": sorted(formats),
            "num_classes": len(CLASSES[kind]), "classes": CLASSES[kind]}
    info_path = out / "info.json"
    if not overwrite and info_path.is_file():
        try:
            if json.loads(info_path.read_text()) == info:
                return info
        except (OSError, json.JSONDecodeError):
            pass
    out.mkdir(parents=True, exist_ok=True)
    info_path.unlink(missing_ok=True)  # written last: its presence means "complete"
    make = temporal_video if kind == "temporal" else spatial_video
    for split_id, (split, count) in enumerate((("train", num_train), ("val", num_val))):
        frame_lines, video_lines = [], []
        for i in range(count):
            label = i % len(CLASSES[kind])
            video = make(label, size, frames_per_video, np.random.default_rng([seed, split_id, i]))
            name = f"{split}_{i:05d}"
            if "frames" in formats:
                write_frames(video, out / "frames" / split / name)
                frame_lines.append(f"frames/{split}/{name} 1 {frames_per_video} {label}")
            if "video" in formats:
                write_video(video, out / "videos" / split / f"{name}.mp4")
                video_lines.append(f"videos/{split}/{name}.mp4 {label}")
        if frame_lines:
            (out / f"{split}.txt").write_text("\n".join(frame_lines) + "\n")
        if video_lines:
            (out / f"{split}_videos.txt").write_text("\n".join(video_lines) + "\n")
    (out / "classes.txt").write_text("\n".join(CLASSES[kind]) + "\n")
    info_path.write_text(json.dumps(info, indent=1) + "\n")
    log.info("synthetic %s dataset: %d train + %d val clips in %s", kind, num_train, num_val, out)
    return info
