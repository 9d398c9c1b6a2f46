"""Folders of JPEG frames with the official list ``<folder> <start_frame> <end_frame> <label>``."""

from __future__ import annotations

from benchmark.data.decode import FrameFolder
from benchmark.data.formats.base import FormatReader, open_entry, register_format
from benchmark.data.listfile import read_frame_list
from benchmark.errors import DataError


@register_format("frames")
class FrameFolders(FormatReader):
    def read_entries(self, cfg, split):
        return read_frame_list(cfg.split_source(split), cfg.path(""), cfg.num_classes, cfg.separator,
                               cfg.min_frames)

    def open(self, cfg, entry):
        return FrameFolder(entry.path, entry.start, entry.end, cfg.filename_template, entry.where)

    def claims(self, fields):
        return len(fields) == 4

    def check(self, cfg, entry, quick):
        """Every frame file the list promises exists, then decodes (all, or first/middle/last)."""
        source = open_entry(cfg, entry)
        present = {p.name for p in source.folder.iterdir()}
        names = [cfg.filename_template.format(entry.start + k) for k in range(source.num_frames)]
        missing = [n for n in names if n not in present]
        if missing:
            raise DataError(f"{entry.where}: {len(missing)} of {len(names)} frames missing in {source.folder}, "
                            f"first {missing[0]}")
        n = source.num_frames
        source.read([0, n // 2, n - 1] if quick else list(range(n)))
