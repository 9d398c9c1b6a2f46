"""Reading the frames of one video as uint8 tensors (T, 3, H, W): JPEG frame folders.

Video files are read by a registered decoder (``benchmark.data.decoders``); ``VideoFile`` stays
here as the name of the default one.

Every failure becomes a ``DataError`` naming the list line, the file and the reason, so a bad
sample is reported (or, with ``on_bad_sample: skip``, counted) instead of crashing a worker.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from benchmark.data.decoders.base import truncation_tolerance
from benchmark.data.decoders.pyav import PyAVVideo
from benchmark.errors import DataError

__all__ = ["FrameFolder", "VideoFile", "truncation_tolerance"]


def _decode_jpeg(*args, **kwargs):
    # torchvision 0.29 deprecates its JPEG codec in favour of TorchCodec (not a dependency); it
    # still works and is the fastest codec available here, so silence the per-call warning.
    # Imported on first use: the dataset-format registry loads this file on login-node commands
    # (launch, status, collect), which decode nothing.
    from torchvision.io import decode_jpeg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return decode_jpeg(*args, **kwargs)


class FrameFolder:
    """Frames ``start..end`` of a folder, file names from the template (1-based in official lists)."""

    def __init__(self, folder: Path, start: int, end: int, template: str, where: str):
        self.folder, self.start, self.template, self.where = folder, start, template, where
        self.num_frames = end - start + 1
        if not folder.is_dir():
            raise DataError(f"{where}: frame folder {folder} does not exist")
        if not any(folder.iterdir()):
            raise DataError(f"{where}: frame folder {folder} is empty")

    def read(self, positions: list[int]) -> torch.Tensor:
        return torch.stack(self.read_frames(positions))

    def read_frames(self, positions: list[int]) -> list[torch.Tensor]:
        """Each position's frame ``(3, H, W)`` (a view of the decoder's pixel-interleaved memory,
        decoded once per distinct position): the dataset crops these without stacking them."""
        cache: dict[int, torch.Tensor] = {}
        for p in positions:
            if p not in cache:
                cache[p] = self._decode(self.folder / self.template.format(self.start + p))
        return [cache[p] for p in positions]

    def _decode(self, path: Path) -> torch.Tensor:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DataError(f"{self.where}: cannot read frame {path} ({exc.strerror or exc})") from exc
        try:
            image = _decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8))
        except RuntimeError as exc:
            reason = str(exc).rsplit(", ", 1)[-1]
            raise DataError(f"{self.where}: cannot decode frame {path} ({reason})") from exc
        if image.shape[0] == 1:
            image = image.expand(3, -1, -1)
        return image[:3]


# The default video decoder, importable from here as before the decoder choice existed.
VideoFile = PyAVVideo
