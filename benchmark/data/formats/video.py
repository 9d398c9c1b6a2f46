"""Video files: a ``<path> <label>`` list, or a ``<class>/<video>`` tree as the split, read by the
dataset's ``decoder`` (``pyav`` or ``torchcodec``, see ``benchmark.data.decoders``)."""

from __future__ import annotations

from pathlib import Path

from benchmark.data.decoders import DECODERS, truncation_tolerance
from benchmark.data.formats.base import FormatReader, open_entry, register_format
from benchmark.data.listfile import VIDEO_EXTENSIONS, read_video_list, read_video_tree, tree_classes
from benchmark.errors import DataError


@register_format("video")
class VideoFiles(FormatReader):
    def read_entries(self, cfg, split):
        DECODERS.get(cfg.decoder, f"dataset {cfg.name}: decoder").require()
        source = cfg.split_source(split)
        if source.is_dir():
            # Labels come from the training tree's class folders so that train and val agree.
            classes = tree_classes(cfg.split_source("train"))
            return read_video_tree(source, classes, cfg.num_classes)
        return read_video_list(source, cfg.path(""), cfg.num_classes, cfg.separator)

    def open(self, cfg, entry):
        return DECODERS.get(cfg.decoder, f"dataset {cfg.name}: decoder")(entry.path, entry.where)

    def claims(self, fields):
        return len(fields) == 2 and Path(fields[0]).suffix.lower() in VIDEO_EXTENSIONS

    def check(self, cfg, entry, quick):
        """Decode every frame (quick: first and last) and compare with the container's frame count."""
        source = open_entry(cfg, entry)
        if quick:
            source.read([0, source.num_frames - 1])
            return
        decoded = source.count_decodable()
        if decoded == 0:
            raise DataError(f"{source.where}: no decodable frame in video {source.path}")
        if decoded < source.num_frames - truncation_tolerance(source.num_frames):
            raise DataError(f"{source.where}: video {source.path} is truncated or damaged: only {decoded} of the "
                            f"{source.num_frames} frames its container declares decode")
