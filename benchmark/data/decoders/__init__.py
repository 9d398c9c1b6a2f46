"""Video decoders: one registered class per library that turns a video file into uint8 frames.

The ``video`` format asks ``DECODERS`` for the ``decoder:`` of the dataset config (``pyav``, the
default; ``torchcodec``, an optional extra). A new decoder is one file here or in a module named by
``STBENCH_PLUGINS``::

    @register_decoder("mylib")
    class MyLibVideo(VideoDecoder):
        def __init__(self, path, where): ...     # sets .num_frames; DataError naming `where`
        def read(self, positions): ...           # uint8 (len(positions), 3, H, W)
        def count_decodable(self): ...           # decode every frame, return how many decoded
"""

from benchmark.data.decoders.base import DECODERS, VideoDecoder, register_decoder, truncation_tolerance

__all__ = ["DECODERS", "VideoDecoder", "register_decoder", "truncation_tolerance"]
