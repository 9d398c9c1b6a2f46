"""PyAV decoding (the default ``decoder: pyav``): only the GOPs holding a clip's frames are decoded."""

from __future__ import annotations

import bisect
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from benchmark.data.decoders.base import VideoDecoder, register_decoder, truncation_tolerance
from benchmark.errors import DataError


@register_decoder("pyav")
class PyAVVideo(VideoDecoder):
    """A video decoded with PyAV (the default decoder); only the GOPs holding a clip's frames are decoded.

    The frame count comes from the container (or duration x frame rate when the container does not
    store it, as in WebM); when that estimate overshoots, positions past the end get the last frame.
    """

    def __init__(self, path: Path, where: str):
        self.path, self.where = path, where
        if not path.is_file():
            raise DataError(f"{where}: video {path} does not exist")
        try:
            self.container = av.open(str(path))
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise DataError(f"{where}: cannot open video {path} ({_reason(exc)})") from exc
        if not self.container.streams.video:
            self.close()
            raise DataError(f"{where}: {path} has no video stream")
        self.stream = self.container.streams.video[0]
        rate = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
        if not rate:
            self.close()
            raise DataError(f"{where}: {path} has no frame rate")
        self.fps = Fraction(rate)
        self.time_base = self.stream.time_base or Fraction(1, 1_000_000)
        self.start_pts = self.stream.start_time or 0
        self.num_frames = self._count_frames()
        if self.num_frames < 1:
            self.close()
            raise DataError(f"{where}: {path} has no frames")

    def _count_frames(self) -> int:
        if self.stream.frames:
            return int(self.stream.frames)
        if self.stream.duration:
            seconds = self.stream.duration * self.time_base
        elif self.container.duration:
            seconds = Fraction(self.container.duration, av.time_base)
        else:
            return 0
        return max(1, round(seconds * self.fps))

    def _position(self, frame: av.VideoFrame) -> int:
        if frame.pts is None:
            return -1
        return round((frame.pts - self.start_pts) * self.time_base * self.fps)

    def key_frames(self, until: int) -> list[int]:
        """Positions of the key frames up to about ``until``, from the packets (demuxing, no decoding)."""
        keys = []
        self.container.seek(self.start_pts, stream=self.stream, backward=True, any_frame=False)
        for packet in self.container.demux(self.stream):
            if packet.pts is None:
                continue
            pos = round((packet.pts - self.start_pts) * self.time_base * self.fps)
            if packet.is_keyframe:
                keys.append(pos)
            if pos > until + 16:  # packets come in decode order: allow for B-frame reordering
                break
        return sorted(keys) or [0]

    def _frames_from(self, position: int):
        """Decoded (position, frame) pairs, starting at the key frame at or before ``position``."""
        pts = self.start_pts + int(position / self.fps / self.time_base)
        self.container.seek(pts, stream=self.stream, backward=True, any_frame=False)
        last = -1
        for frame in self.container.decode(self.stream):
            self.decoded_frames += 1
            pos = self._position(frame)
            last = pos if pos >= 0 else last + 1  # frames without pts: count them
            yield last, frame

    def read(self, positions: list[int]) -> torch.Tensor:
        """The frames at ``positions``. Decoding jumps to the last key frame before each wanted frame
        when that key frame lies ahead, so a clip of a long video decodes only its own GOPs."""
        wanted = sorted(set(positions))
        found: dict[int, np.ndarray] = {}
        self.decoded_frames = 0
        try:
            keys = self.key_frames(wanted[-1])
            decoder, current, previous = None, -1, None
            for target in wanted:
                key = keys[max(0, bisect.bisect_right(keys, target) - 1)]
                if decoder is None or key > current:
                    decoder, previous = self._frames_from(key), None
                while current < target or previous is None:
                    item = next(decoder, None)
                    if item is None:
                        break
                    current, previous = item
                if previous is None or current < target:  # the stream ended before this position
                    break
                found[target] = previous.to_ndarray(format="rgb24")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise DataError(f"{self.where}: cannot decode video {self.path} ({_reason(exc)})") from exc
        finally:
            self.close()
        if not found and previous is not None:  # even the first wanted position lies past the end
            found[current] = previous.to_ndarray(format="rgb24")
        if not found:
            raise DataError(f"{self.where}: no decodable frame in video {self.path}")
        # Past the container's (possibly estimated) length the last frame stands in; but a frame the
        # container says exists and that cannot be decoded means a truncated or damaged file.
        reach = max(found)
        if any(reach < p < self.num_frames - truncation_tolerance(self.num_frames) for p in wanted):
            raise DataError(f"{self.where}: video {self.path} is truncated or damaged: only {reach + 1} of the "
                            f"{self.num_frames} frames its container declares decode")
        last = found[reach]
        frames = [found.get(p, last) for p in positions]
        return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()

    def count_decodable(self) -> int:
        decoded = 0
        try:
            for _ in self.container.decode(self.stream):
                decoded += 1
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise DataError(f"{self.where}: cannot decode video {self.path} after {decoded} frames "
                            f"({_reason(exc)})") from exc
        finally:
            self.close()
        return decoded

    def close(self) -> None:
        container = getattr(self, "container", None)
        if container is not None:
            container.close()
            self.container = None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
