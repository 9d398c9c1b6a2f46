"""The video-decoder extension point: how one video file becomes frames at 0-based positions.

Every decoder gives the same frames for the same positions (tested against PyAV), so ``decoder:``
changes speed, not results; failures are ``DataError``s naming the list line, file and reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a login node reads configs without importing torch
    import torch

from benchmark.errors import ConfigError
from benchmark.plugins import Registry


class VideoDecoder:
    """One opened video file. Subclasses set ``num_frames`` in ``__init__`` and implement the rest."""

    name = ""  # set by register_decoder
    num_frames: int

    def __init__(self, path: Path, where: str):
        raise NotImplementedError

    @classmethod
    def require(cls) -> None:
        """Raise ``ConfigError`` (one line, naming what to install) when the decoder cannot run here.

        Called once when a split is read, in the main process, so a missing library is a clear
        error up front rather than a bad sample per video in the loader's workers."""

    def read(self, positions: list[int]) -> torch.Tensor:
        """uint8 frames ``(len(positions), 3, H, W)`` in the order asked; past the end: the last frame."""
        raise NotImplementedError

    def count_decodable(self) -> int:
        """Decode every frame (``stbench data check``); the number decoded, ``DataError`` on damage."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the file (safe to call twice)."""


DECODERS: Registry[type[VideoDecoder]] = Registry("video decoder", ("benchmark.data.decoders",), ConfigError)


def register_decoder(name: str) -> Callable[[type[VideoDecoder]], type[VideoDecoder]]:
    """Class decorator: register the decoder class under ``name`` (the dataset's ``decoder:`` value)."""

    def add(cls: type[VideoDecoder]) -> type[VideoDecoder]:
        cls.name = name
        DECODERS.add(name, cls)
        return cls

    return add


def truncation_tolerance(num_frames: int) -> int:
    """Frames a container's count may overstate without the file being damaged (durations round)."""
    return max(2, num_frames // 20)
