"""Dataset formats: one registered reader per way of storing videos on disk (one file each).

A new format is one file here or in a module named by ``STBENCH_PLUGINS``::

    @register_format("npy")
    class NpyArrays(FormatReader):
        def open(self, cfg, entry):
            return ArrayFrames(np.load(entry.path))  # .num_frames, .read(positions)
"""

from benchmark.data.formats.base import (
    FORMATS,
    FormatReader,
    FrameSource,
    format_reader,
    open_entry,
    read_frame_list,
    register_format,
    sniff_format,
)

__all__ = ["FORMATS", "FormatReader", "FrameSource", "format_reader", "open_entry", "read_frame_list", "register_format",
           "sniff_format"]
