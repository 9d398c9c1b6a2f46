"""Layers shared by the 3D networks built from 2D backbones (I3D, S3D, ...), whatever the family.

Parameter names follow torchvision's 2D networks (``conv``/``bn`` inside a unit, ``conv1``/``bn1`` in
a ResNet block), so 2D weights are found by name when inflating; the extra parts of a unit (S3D's
temporal half: ``*_t``) have no 2D counterpart.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.models.heads import FrameAveragingHead


class ConvBNReLU3d(nn.Module):
    """Conv3d (no bias) + BN + ReLU: an inflated torchvision ``BasicConv2d`` (GoogLeNet's unit)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bn_eps=1e-3):
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm3d(out_channels, eps=bn_eps)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


def replicate_temporal_padding(model: nn.Module) -> nn.Module:
    """Pad time by repeating the clip's end frames instead of with zeros, in every ``Conv3d``; in place.

    Not the official design (zeros), but with it an inflated model is exactly its 2D source on a
    static clip (I3D's "boring video" property): every temporal window then sees identical frames,
    so a "divide"-inflated kernel sums back to the 2D kernel. Parameters and names are unchanged.
    """

    def pad_time(module, args, pt):
        return (F.pad(args[0], (0, 0, 0, 0, pt, pt), mode="replicate"), *args[1:])

    for m in model.modules():
        if isinstance(m, nn.Conv3d) and m.padding[0] > 0:
            pt = m.padding[0]
            m.padding = (0, *m.padding[1:])
            m.register_forward_pre_hook(functools.partial(pad_time, pt=pt))
    return model


class Video3DNet(nn.Module):
    """Base of the 3D networks: :meth:`features` (B, 3, T, H, W) → (B, C, T', H', W'), then the
    official head (:class:`FrameAveragingHead`: spatial average, fc per remaining time step, mean)."""

    head: FrameAveragingHead

    def features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f"expected a clip batch (B, 3, T, H, W), got shape {tuple(x.shape)}")
        return self.head(self.features(x))
