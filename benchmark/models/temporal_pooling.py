"""Temporal max pooling between stages of a per-frame 2D network (the ``-tp`` model variants)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmark.models.temporal import FrameAware


class TemporalMaxPool(FrameAware):
    """Max pooling over time, kernel 3, stride 2, padding 1: T frames become ceil(T/2).

    The official implementation places it after ResNet layer1-3 / GoogLeNet maxpool2-4, so a clip
    of T frames reaches the head with T/8 frames (at least 1).
    """

    kernel_size = 3
    stride = 2
    padding = 1

    def frames_after(self, frames: int) -> int:
        return (frames + 2 * self.padding - self.kernel_size) // self.stride + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        clips = self.to_clips(x)  # (B, T, C, H, W)
        b, t = clips.shape[:2]
        flat = clips.reshape(b, t, -1).transpose(1, 2)  # (B, C*H*W, T)
        pooled = F.max_pool1d(flat, self.kernel_size, self.stride, self.padding)
        return pooled.transpose(1, 2).reshape(-1, *x.shape[1:])

    def conv_macs(self, inputs, output) -> int:
        return 0
