"""Writing frames to disk: JPEG frame folders and encoded videos (PyAV)."""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from benchmark.errors import DataError


def _encode_jpeg(*args, **kwargs):
    # torchvision 0.29 deprecates its JPEG codec in favour of TorchCodec (not a dependency); it
    # still works and is the fastest codec available here, so silence the per-call warning.
    # Imported on first use: the dataset-format registry loads this file on login-node commands
    # (launch, status, collect), which encode nothing.
    from torchvision.io import encode_jpeg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return encode_jpeg(*args, **kwargs)

# Container suffix -> (codec, pixel format).
VIDEO_CODECS = {
    ".mp4": ("libx264", "yuv420p"),
    ".mkv": ("libx264", "yuv420p"),
    ".webm": ("libvpx-vp9", "yuv420p"),
    ".avi": ("mpeg4", "yuv420p"),
}


def write_frames(frames: np.ndarray, folder: Path, template: str = "{:05d}.jpg", quality: int = 95,
                 first: int = 1) -> int:
    """Write (T, H, W, 3) uint8 frames as JPEGs numbered from ``first``; returns the count."""
    folder.mkdir(parents=True, exist_ok=True)
    chw = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    for i, image in enumerate(chw):
        data = _encode_jpeg(image.contiguous(), quality=quality)
        (folder / template.format(first + i)).write_bytes(data.numpy().tobytes())
    return len(chw)


def write_video(frames: np.ndarray, path: Path, fps: int = 12, crf: int = 18, keyint: int | None = None) -> None:
    """Encode (T, H, W, 3) uint8 frames; the codec follows the suffix (mp4: H.264, webm: VP9).

    ``keyint``: maximum distance between key frames (default: the encoder's, 250 for x264).
    """
    suffix = path.suffix.lower()
    if suffix not in VIDEO_CODECS:
        raise DataError(f"{path}: cannot write videos of type {suffix!r} (valid: {', '.join(VIDEO_CODECS)})")
    h, w = frames.shape[1:3]
    if h % 2 or w % 2:
        raise DataError(f"{path}: frame size {w}x{h} must be even for {VIDEO_CODECS[suffix][1]}")
    codec, pix_fmt = VIDEO_CODECS[suffix]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "veryfast", "tune": "zerolatency"}
        elif codec == "libvpx-vp9":
            stream.options = {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8"}
        if keyint:
            stream.codec_context.gop_size = keyint
        for image in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
