"""Conv: TAM's positions with a full channel-mixing temporal convolution (the paper's "Conv.")."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

from benchmark.models.registry import register_module
from benchmark.models.temporal import FrameAware
from benchmark.models.video2d import build_video2d


class TemporalConv(FrameAware):
    """y = ReLU(Conv_{3×1×1}(x)): C→C channels, kernel 3 in time, zero padding, no bias (3·C² params).

    Initialised to the identity (centre tap = I, outer taps 0) for the same reason as TAM: an
    ImageNet-initialised network starts as its TSN counterpart.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        # skip_init: the default random init of 3·C² weights would be thrown away (and is slow).
        self.conv = skip_init(nn.Conv3d, channels, channels, kernel_size=(3, 1, 1), padding=(1, 0, 0),
                              bias=False, device=torch.get_default_device())
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[:, :, 1, 0, 0].copy_(torch.eye(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        clips = self.to_clips(x).transpose(1, 2)  # (B, C, T, H, W)
        out = F.relu(self.conv(clips))
        return out.transpose(1, 2).reshape(x.shape)


@register_module("Conv", description="full temporal convolution (k=3, channel mixing) at TAM's positions",
                 paper="Chen et al., Deep Analysis of CNN-based Spatio-temporal Representations, CVPR 2021")
def build_conv(spec, num_classes, **options):
    return build_video2d(spec, num_classes, operator=TemporalConv, **options)
