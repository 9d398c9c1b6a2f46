"""The dataset-format extension point: how a split lists its videos and how one video's frames are read.

Everything format-specific lives in a reader (``frames.py``, ``video.py``, a user's plugin); the
dataset, ``stbench data check`` and the CLI's format sniffing only ask the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # a login node reads configs without importing torch
    import torch

from benchmark.data.listfile import Entry, read_video_list
from benchmark.errors import ConfigError, DataError
from benchmark.plugins import Registry

# benchmark.data.dataset_config.DataConfig, which imports this module to check its ``format``.
DataConfig = Any


class FrameSource(Protocol):
    """One opened video: its frame count and its frames at 0-based positions.

    A source may also offer ``read_frames(positions) -> list[Tensor]``: the same frames as separate
    ``(3, H, W)`` uint8 tensors, so that the dataset crops each one without first stacking
    full-size frames (``FrameFolder`` does; :func:`read_frame_list` falls back to ``read``).
    """

    num_frames: int

    def read(self, positions: list[int]) -> torch.Tensor:
        """uint8 frames ``(len(positions), 3, H, W)``, in the order asked (positions may repeat)."""
        ...


def read_frame_list(source: FrameSource, positions: list[int]) -> list[torch.Tensor]:
    """The frames at ``positions`` as a list of ``(3, H, W)`` uint8 tensors (views where possible)."""
    read_frames = getattr(source, "read_frames", None)
    if read_frames is not None:
        return list(read_frames(positions))
    return list(source.read(positions).unbind(0))


class FormatReader:
    """A dataset format. Subclasses implement :meth:`open`; the other methods have defaults.

    The default list is ``<path> <label>`` per line (paths relative to the dataset root).
    """

    name = ""  # set by register_format

    def read_entries(self, cfg: DataConfig, split: str) -> list[Entry]:
        """The split's entries; a malformed line becomes an ``Entry`` carrying its ``error``."""
        return read_video_list(cfg.split_source(split), cfg.path(""), cfg.num_classes, cfg.separator)

    def open(self, cfg: DataConfig, entry: Entry) -> FrameSource:
        """The entry's frames; raise ``DataError`` naming ``entry.where`` when they cannot be read."""
        raise NotImplementedError

    def claims(self, fields: list[str]) -> bool:
        """Whether a list line (split into fields) names a video of this format (``--format auto``)."""
        return False

    def check(self, cfg: DataConfig, entry: Entry, quick: bool) -> None:
        """Raise ``DataError`` if the entry is unusable; ``quick`` reads first, middle and last frame only."""
        source = open_entry(cfg, entry)
        n = source.num_frames
        source.read([0, n // 2, n - 1] if quick else list(range(n)))


FORMATS: Registry[FormatReader] = Registry("dataset format", ("benchmark.data.formats",), ConfigError)


def register_format(name: str) -> Callable[[type[FormatReader]], type[FormatReader]]:
    """Class decorator: register one instance of the reader under ``name`` (the ``format:`` value)."""

    def add(cls: type[FormatReader]) -> type[FormatReader]:
        reader = cls()
        reader.name = name
        FORMATS.add(name, reader)
        return cls

    return add


def format_reader(name: str, where: str = "") -> FormatReader:
    return FORMATS.get(name, where)


def open_entry(cfg: DataConfig, entry: Entry) -> FrameSource:
    """The entry's frames reader; ``DataError`` for a bad entry, an unreadable source or too few frames."""
    if entry.error:
        raise DataError(entry.error)
    source = format_reader(cfg.format).open(cfg, entry)
    if source.num_frames < cfg.min_frames:
        close = getattr(source, "close", None)
        if close is not None:
            close()
        raise DataError(f"{entry.where}: {entry.path} has {source.num_frames} frames, "
                        f"fewer than min_frames={cfg.min_frames}")
    return source


def sniff_format(list_path: Path, separator: str | None) -> str:
    """The format whose reader claims the list's first line; a clear error when none (or the file) does."""
    try:
        lines = list_path.read_text().splitlines()
    except OSError as exc:
        raise DataError(f"{list_path}: cannot read list file ({exc.strerror or exc})") from exc
    first = next((ln for ln in lines if ln.strip()), "")
    fields = [f.strip() for f in first.split(separator)] if separator else first.split()
    for name, reader in FORMATS.items():
        if reader.claims(fields):
            return name
    raise ConfigError(f"{list_path}:1: cannot tell the dataset format from {first.strip()!r}; "
                      f"give --format ({', '.join(FORMATS.names())})")
