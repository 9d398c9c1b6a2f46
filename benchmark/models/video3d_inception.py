"""3D InceptionV1 networks of the official implementation: I3D and S3D.

Layout and names follow torchvision's GoogLeNet (no aux heads). Differences from the 2D network,
all taken from the official code:
- I3D: stem 7×7×7, stride (1,2,2), padding 3; every 3×3 conv (conv3 and the inception branches)
  becomes 3×3×3.
- S3D: stem 3×7×7, stride (1,2,2), padding (1,3,3); conv3 and every inception 3×3 become
  :class:`SeparableConvBNReLU3d` (1×3×3, then 3×1×1 with bias).
- Pools: max (1,3,3)/(1,2,2) padding (0,1,1) after the stem; max (3,3,3) stride (t,2,2) padding 1
  before inception 3a and 4a (t = 2 with ``tp``, else 1). Before 5a: I3D repeats that pool; S3D uses
  kernel 2, stride (t,2,2), no padding, so without ``tp`` T becomes T−1 for 5a/5b. Spatially these
  pools differ from GoogLeNet's ceil-mode 2D pools (same output sizes, shifted windows).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.models.heads import FrameAveragingHead
from benchmark.models.video3d import ConvBNReLU3d, SeparableConvBNReLU3d, Video3DNet, init_3d_weights

KINDS = ("i3d", "s3d")

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


def _conv3x3(kind, in_channels, out_channels):
    if kind == "i3d":
        return ConvBNReLU3d(in_channels, out_channels, 3, padding=1)
    return SeparableConvBNReLU3d(in_channels, out_channels, 3, padding=1)


class Inception3d(nn.Module):
    """An inflated GoogLeNet inception block (branch names as torchvision's)."""

    def __init__(self, kind, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = ConvBNReLU3d(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(ConvBNReLU3d(in_channels, ch3x3red, 1), _conv3x3(kind, ch3x3red, ch3x3))
        self.branch3 = nn.Sequential(ConvBNReLU3d(in_channels, ch5x5red, 1), _conv3x3(kind, ch5x5red, ch5x5))
        self.branch4 = nn.Sequential(nn.MaxPool3d(3, stride=1, padding=1, ceil_mode=True),
                                     ConvBNReLU3d(in_channels, pool_proj, 1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


def _max_pool_at_most(x, kernel, stride):
    """Unpadded max pool whose kernel shrinks to the input where the input is smaller (tiny clips/
    images); identical to the plain pool whenever every dimension is at least the kernel."""
    kernel = tuple(min(k, s) for k, s in zip(kernel, x.shape[2:]))
    return F.max_pool3d(x, kernel, stride)


class InceptionV1_3d(Video3DNet):
    """I3D-/S3D-InceptionV1; input (B, 3, T, H, W)."""

    def __init__(self, kind: str, num_classes: int, *, tp: bool = False, dropout: float = 0.5):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        self.time_stride = 2 if tp else 1
        if kind == "i3d":
            self.conv1 = ConvBNReLU3d(3, 64, 7, stride=(1, 2, 2), padding=3)
            self.conv3 = ConvBNReLU3d(64, 192, 3, padding=1)
        else:
            self.conv1 = ConvBNReLU3d(3, 64, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3))
            self.conv3 = SeparableConvBNReLU3d(64, 192, 3, padding=1)
        self.conv2 = ConvBNReLU3d(64, 64, 1)
        for name, *channels in INCEPTION_BLOCKS:
            self.add_module(name, Inception3d(kind, *channels))
        self.head = FrameAveragingHead(1024, num_classes, dropout)
        init_3d_weights(self)

    def _pool(self, x):
        return F.max_pool3d(x, 3, (self.time_stride, 2, 2), 1)

    def _pool_before_5a(self, x):
        if self.kind == "i3d":
            return self._pool(x)
        return _max_pool_at_most(x, (2, 2, 2), (self.time_stride, 2, 2))

    def features(self, x):
        x = self.conv1(x)
        x = F.max_pool3d(x, (1, 3, 3), (1, 2, 2), (0, 1, 1))
        x = self._pool(self.conv3(self.conv2(x)))
        x = self._pool(self.inception3b(self.inception3a(x)))
        for name in ("inception4a", "inception4b", "inception4c", "inception4d", "inception4e"):
            x = getattr(self, name)(x)
        x = self._pool_before_5a(x)
        return self.inception5b(self.inception5a(x))
