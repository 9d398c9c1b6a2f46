"""Frame-aware operators inside a per-frame 2D network.

A 2D video network runs its backbone on ``(B*T, C, H, W)`` tensors. Operators that mix frames
(TAM, TSM, temporal convolutions, non-local blocks, temporal pooling) must know how many frames
each clip has at their depth; :class:`FrameAware` holds that number and :func:`assign_frames`
sets it on every such operator from the clip length at the network's input.
"""

from __future__ import annotations

import torch
from torch import nn


class FrameAware(nn.Module):
    """Base of operators that see ``(B*T, C, H, W)`` and need ``T`` (``self.frames``).

    Subclasses that change the number of frames (temporal pooling) override
    :meth:`frames_after`. The profiler may ask :meth:`conv_macs` (see ``benchmark.models.profile``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.frames = 1

    def frames_after(self, frames: int) -> int:
        """Number of frames this operator outputs for ``frames`` input frames."""
        return frames

    def to_clips(self, x: torch.Tensor) -> torch.Tensor:
        """``(B*T, C, H, W)`` -> ``(B, T, C, H, W)``; names the mismatch when T does not divide."""
        n = x.shape[0]
        if n % self.frames:
            raise ValueError(
                f"{type(self).__name__}: batch of {n} frame maps is not a multiple of {self.frames} frames"
            )
        return x.view(n // self.frames, self.frames, *x.shape[1:])


def assign_frames(network: nn.Module, frames: int) -> int:
    """Set ``frames`` on every :class:`FrameAware` in ``network``; return the frames at the end.

    Relies on ``network.modules()`` visiting operators in execution order, which holds for the
    sequential stages the video builders assemble (operators are inserted in place, never appended
    out of order).
    """
    for module in network.modules():
        if isinstance(module, FrameAware):
            module.frames = frames
            frames = module.frames_after(frames)
    return frames
