"""The 3D InceptionV1 builder (I3D, S3D, ...): torchvision's GoogLeNet layout and names (no aux
heads) with the stem and every 3×3 conv (conv3 and the inception branches) replaced by the module's
units (:class:`~benchmark.models.video3d_units.Units3d`).

Official details kept for every module: BN eps 1e-3; convs a unit adds to model time carry a bias
(S3D-InceptionV1's); max pool (1,3,3)/(1,2,2) padding (0,1,1) after the stem; max pool (3,3,3) stride
(t,2,2) padding 1 before inception 3a and 4a (t = 2 with ``tp``, else 1), and before 5a unless the
module brings its own ``last_pool`` (S3D: kernel 2, no padding, so without ``tp`` T becomes T−1 for
5a/5b). Spatially these pools differ from GoogLeNet's ceil-mode 2D pools (same output sizes,
shifted windows).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.models.heads import FrameAveragingHead
from benchmark.models.video3d import ConvBNReLU3d, Video3DNet
from benchmark.models.video3d_units import Conv3dUnit, ConvUnit, Units3d
from benchmark.models.weight_init import msra_init

BN_EPS = 1e-3

# torchvision GoogLeNet: name, in, 1×1, 3×3 reduce, 3×3, "5×5" reduce, "5×5" (really 3×3), pool proj.
INCEPTION_BLOCKS = (
    ("inception3a", 192, 64, 96, 128, 16, 32, 32),
    ("inception3b", 256, 128, 128, 192, 32, 96, 64),
    ("inception4a", 480, 192, 96, 208, 16, 48, 64),
    ("inception4b", 512, 160, 112, 224, 24, 64, 64),
    ("inception4c", 512, 128, 128, 256, 24, 64, 64),
    ("inception4d", 512, 112, 144, 288, 32, 64, 64),
    ("inception4e", 528, 256, 160, 320, 32, 128, 128),
    ("inception5a", 832, 256, 160, 320, 32, 128, 128),
    ("inception5b", 832, 384, 192, 384, 48, 128, 128),
)


def _unit(unit: ConvUnit, in_channels: int, out_channels: int, kernel_size: int = 3, stride=(1, 1)) -> Conv3dUnit:
    return Conv3dUnit(unit.parts(in_channels, out_channels, kernel_size, stride, bn_eps=BN_EPS, temporal_bias=True))


class Inception3d(nn.Module):
    """An inflated GoogLeNet inception block (branch names as torchvision's)."""

    def __init__(self, unit: ConvUnit, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = ConvBNReLU3d(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(ConvBNReLU3d(in_channels, ch3x3red, 1), _unit(unit, ch3x3red, ch3x3))
        self.branch3 = nn.Sequential(ConvBNReLU3d(in_channels, ch5x5red, 1), _unit(unit, ch5x5red, ch5x5))
        self.branch4 = nn.Sequential(nn.MaxPool3d(3, stride=1, padding=1, ceil_mode=True),
                                     ConvBNReLU3d(in_channels, pool_proj, 1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


def narrow_pool(x, time_stride: int):
    """S3D's pool before 5a: unpadded max pool 2×2×2, stride (time_stride, 2, 2), whose kernel shrinks
    to the input where the input is smaller (tiny clips/images); identical to the plain pool whenever
    every dimension is at least 2."""
    kernel = tuple(min(2, s) for s in x.shape[2:])
    return F.max_pool3d(x, kernel, (time_stride, 2, 2))


class InceptionV1_3d(Video3DNet):
    """A 3D InceptionV1 made of ``units``; input (B, 3, T, H, W)."""

    def __init__(self, units: Units3d, num_classes: int, *, tp: bool = False, dropout: float = 0.5):
        super().__init__()
        self.time_stride = 2 if tp else 1
        self.last_pool = units.last_pool
        self.conv1 = _unit(units.stem, 3, 64, 7, stride=(1, 2))
        self.conv3 = _unit(units.conv, 64, 192)  # before conv2, as the official code: fixes the init draws
        self.conv2 = ConvBNReLU3d(64, 64, 1)
        for name, *channels in INCEPTION_BLOCKS:
            self.add_module(name, Inception3d(units.conv, *channels))
        self.head = FrameAveragingHead(1024, num_classes, dropout)
        msra_init(self, fc_std=0.001)

    def _pool(self, x):
        return F.max_pool3d(x, 3, (self.time_stride, 2, 2), 1)

    def features(self, x):
        x = self.conv1(x)
        x = F.max_pool3d(x, (1, 3, 3), (1, 2, 2), (0, 1, 1))
        x = self._pool(self.conv3(self.conv2(x)))
        x = self._pool(self.inception3b(self.inception3a(x)))
        for name in ("inception4a", "inception4b", "inception4c", "inception4d", "inception4e"):
            x = getattr(self, name)(x)
        x = self._pool(x) if self.last_pool is None else self.last_pool(x, self.time_stride)
        return self.inception5b(self.inception5a(x))
