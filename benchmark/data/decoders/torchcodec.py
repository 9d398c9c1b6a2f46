"""TorchCodec decoding (``decoder: torchcodec``, the optional extra ``stbench[torchcodec]``).

TorchCodec is PyTorch's own decoder on the system's FFmpeg libraries. It runs in ``exact`` seek
mode: opening a file scans its packets once (no decoding), so frame ``i`` is the ``i``-th frame in
presentation order (PyAV's position for constant-rate videos) and the count is the true one, also
where the container stores none (WebM).
"""

from __future__ import annotations

import ctypes.util
import functools
from pathlib import Path

import torch

from benchmark.data.decoders.base import VideoDecoder, register_decoder, truncation_tolerance
from benchmark.data.decoders.pyav import PyAVVideo
from benchmark.errors import ConfigError, DataError

INSTALL = "pip install stbench[torchcodec], and the system FFmpeg libraries (apt-get install ffmpeg)"
CHUNK = 64  # frames decoded at once by count_decodable (bounded memory for long videos)


def _video_decoder_class():
    """TorchCodec's ``VideoDecoder``; ``ConfigError`` naming the extra when it cannot be loaded."""
    try:
        from torchcodec.decoders import VideoDecoder as TorchCodecDecoder
    except ImportError as exc:
        raise ConfigError(f"dataset decoder torchcodec: the torchcodec package is not installed ({INSTALL})") from exc
    except (OSError, RuntimeError) as exc:  # its FFmpeg libraries are missing or of a wrong version
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"dataset decoder torchcodec: cannot load TorchCodec's FFmpeg libraries "
                          f"({first[:160]}); install them: {INSTALL}") from exc
    if not _ffmpeg_installed():  # TorchCodec loads them on first use, not on import: say so before any video
        raise ConfigError(f"dataset decoder torchcodec: the system FFmpeg libraries are not installed ({INSTALL})")
    return TorchCodecDecoder


@functools.cache
def _ffmpeg_installed() -> bool:
    return ctypes.util.find_library("avcodec") is not None


@register_decoder("torchcodec")
class TorchCodecVideo(VideoDecoder):
    """A video decoded with TorchCodec; a container count above the decodable frames means damage."""

    @classmethod
    def require(cls) -> None:
        _video_decoder_class()

    def __init__(self, path: Path, where: str):
        self.path, self.where = path, where
        if not path.is_file():
            raise DataError(f"{where}: video {path} does not exist")
        decoder_class = _video_decoder_class()
        try:
            self.decoder = decoder_class(str(path), seek_mode="exact", dimension_order="NCHW")
        except (RuntimeError, ValueError, OSError) as exc:
            raise DataError(f"{where}: cannot open video {path} ({_reason(exc)})") from exc
        meta = self.decoder.metadata
        self.num_frames = int(meta.num_frames or 0)
        if self.num_frames < 1:
            raise DataError(f"{where}: {path} has no frames")
        declared = meta.num_frames_from_header
        if declared and self.num_frames < declared - truncation_tolerance(declared):
            raise DataError(f"{where}: video {path} is truncated or damaged: only {self.num_frames} of the "
                            f"{declared} frames its container declares are present")

    def read(self, positions: list[int]) -> torch.Tensor:
        last = self.num_frames - 1
        wanted = sorted({min(max(p, 0), last) for p in positions})
        try:
            frames = self.decoder.get_frames_at(indices=wanted).data
        except (RuntimeError, IndexError, ValueError) as exc:
            raise DataError(f"{self.where}: cannot decode video {self.path} ({_reason(exc)})") from exc
        finally:
            self.close()
        row = {p: i for i, p in enumerate(wanted)}
        return frames[[row[min(max(p, 0), last)] for p in positions]].contiguous()

    def count_decodable(self) -> int:
        decoded = 0
        try:
            for start in range(0, self.num_frames, CHUNK):
                stop = min(start + CHUNK, self.num_frames)
                decoded += len(self.decoder.get_frames_in_range(start=start, stop=stop).data)
        except (RuntimeError, IndexError, ValueError) as exc:
            raise DataError(f"{self.where}: cannot decode video {self.path} after {decoded} frames "
                            f"({_reason(exc)})") from exc
        finally:
            self.close()
        # Exact mode counts the frames present; whether the file lost some, only the container
        # header says (WebM stores a duration, not a count): read it as the PyAV decoder does.
        declared = PyAVVideo(self.path, self.where)
        declared.close()
        if decoded < declared.num_frames - truncation_tolerance(declared.num_frames):
            raise DataError(f"{self.where}: video {self.path} is truncated or damaged: only {decoded} of the "
                            f"{declared.num_frames} frames its container declares decode")
        return decoded

    def close(self) -> None:
        self.decoder = None


def _reason(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
