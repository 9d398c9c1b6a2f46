"""Squeeze-excitation for 3D feature maps (Hu et al.), shared by VoV3D, X3D and I3D-SE."""

from __future__ import annotations

import torch
from torch import nn


def se_width(channels: int, ratio: float = 1 / 16, divisor: int = 8) -> int:
    """Bottleneck width of an SE unit: ``channels * ratio`` rounded to a multiple of 8 (at least 8),
    rounded up when rounding lost more than 10% (X3D's rule, which VoV3D's SE follows)."""
    width = channels * ratio
    out = max(divisor, int(width + divisor / 2) // divisor * divisor)
    if out < 0.9 * width:
        out += divisor
    return out


class SqueezeExcite3d(nn.Module):
    """Global average over (T, H, W), 1×1×1 reduce (bias) + ReLU, 1×1×1 expand (bias) + sigmoid,
    channel-wise rescaling. ``hidden`` defaults to :func:`se_width` of ``channels``."""

    def __init__(self, channels: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or se_width(channels)
        self.reduce = nn.Conv3d(channels, hidden, 1)
        self.expand = nn.Conv3d(hidden, channels, 1)

    def forward(self, x):
        s = x.mean(dim=(2, 3, 4), keepdim=True)
        s = torch.sigmoid(self.expand(torch.relu(self.reduce(s))))
        return x * s
