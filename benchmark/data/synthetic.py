"""Synthetic video datasets that separate temporal from spatial modelling, written as real files.

*temporal* (4 classes): a full-width bar of random colour at a random height on a black torus
(positions wrap around) moves vertically at one speed: {slow, fast} x {up, down}. Every single
frame has the same appearance distribution in every class, so a per-frame model (TSN) is at
chance. Speed is visible to time-symmetric operators (a max over 3 frames makes a streak whose
length grows with speed: temporal pooling gets 2 of the 4 classes), but direction is a
time-reversal, invisible to them: only real temporal modelling (TAM, TSM, I3D, ...) solves all 4.
Motion is vertical so that a horizontal flip cannot change a label.

*spatial* (4 classes): one object whose shape is the class (filled square, hollow square, plus,
disc), random colour, drifting with a random velocity independent of the class: frame order
carries no information, and a single frame suffices.

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
    "spatial": ["filled square", "hollow square", "plus", "disc"],
}
# Bright, saturated colours: high contrast against the black background, shared by all classes.
PALETTE = np.array([
    [255, 255, 255], [255, 60, 60], [60, 255, 60], [80, 120, 255],
    [255, 255, 60], [255, 60, 255], [60, 255, 255], [255, 160, 40],
], dtype=np.uint8)
FORMATS = ("frames", "video")
# Bumped whenever the generated content changes, so an older dataset on disk is regenerated.
GENERATOR_VERSION = 2


def _paint(frame: np.ndarray, mask: np.ndarray, top: int, left: int, colour: np.ndarray) -> None:
    """Paint ``mask`` at (top, left) on a torus (coordinates wrap around the frame)."""
    h, w = frame.shape[:2]
    rows = (top + np.arange(mask.shape[0])) % h
    cols = (left + np.arange(mask.shape[1])) % w
    patch = frame[np.ix_(rows, cols)]
    patch[mask] = colour
    frame[np.ix_(rows, cols)] = patch


def shape_mask(kind: str, side: int) -> np.ndarray:
    y, x = np.mgrid[:side, :side]
    c = (side - 1) / 2
    border = max(1, side // 5)
    if kind == "filled square":
        return np.ones((side, side), bool)
    if kind == "hollow square":
        return (np.minimum(np.minimum(y, x), np.minimum(side - 1 - y, side - 1 - x)) < border)
    if kind == "plus":
        return (np.abs(y - c) <= border / 2 + 0.5) | (np.abs(x - c) <= border / 2 + 0.5)
    if kind == "disc":
        return (y - c) ** 2 + (x - c) ** 2 <= (side / 2) ** 2
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
    side = max(5, (size * 2) // 5)
    mask = shape_mask(CLASSES["spatial"][label], side)
    colour = PALETTE[rng.integers(len(PALETTE))]
    top, left = rng.integers(size, size=2)
    vy, vx = rng.integers(-2, 3, size=2)
    video = np.zeros((frames, size, size, 3), np.uint8)
    for t in range(frames):
        _paint(video[t], mask, int(top + vy * t), int(left + vx * t), colour)
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
