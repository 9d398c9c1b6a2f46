"""X3D-XS/S/M/L/XL (Feichtenhofer, "X3D: Expanding Architectures for Efficient Video Recognition",
CVPR 2020), trained from scratch.

The X2D base (paper Table 1): a stem of a 1×3×3 conv (24 channels, spatial stride 2) and a 5×1×1
depthwise conv; stages res2–res5 of 24/48/96/192 output channels with (1, 2, 5, 3) blocks, each
stage's first block halving the resolution; bottleneck blocks of a 1×1×1 conv to γ_b = 2.25× the
output width, a channel-wise (depthwise) 3×3×3 conv, SE (ratio 1/16) on every other block starting
with the first, Swish, and a 1×1×1 projection; the head is a 1×1×1 conv to 2.25 × 192 = 432, global
pooling, a 1×1×1 conv to 2048 + ReLU, dropout and fc. The expanded models multiply the depth by
γ_d (⌈γ_d × blocks⌉: 2.2 for XS/S/M, 5.0 for L and XL) and the width by γ_w (2.9 for XL: stem 32,
stages 32/64/128/256, each rounded to a multiple of 8); the frames (γ_τ: XS 4, S 13, M-XL 16) and the
crop (γ_s: 160 / 160 / 224 / 312 / 312 train, 160 / 182 / 256 / 356 / 356 test) are the run's input.
Time is never strided, so ``-tp`` is rejected.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from benchmark.models.architectures._common import Classifier, check_input, scratch_builder
from benchmark.models.registry import register_architecture
from benchmark.models.squeeze_excite import SqueezeExcite3d, se_width
from benchmark.models.weight_init import msra_init

PAPER = "Feichtenhofer, X3D: Expanding Architectures for Efficient Video Recognition, CVPR 2020"
BASE_BLOCKS = (1, 2, 5, 3)
BASE_WIDTH = 24  # the stem's and res2's width; res3-res5 double it stage by stage
BOTTLENECK = 2.25  # gamma_b: inner width / output width
HEAD_WIDTH = 2048
# variant -> (gamma_w, gamma_d, frames, train crop, test crop)
VARIANTS = {"XS": (1.0, 2.2, 4, 160, 160), "S": (1.0, 2.2, 13, 160, 182), "M": (1.0, 2.2, 16, 224, 256),
            "L": (1.0, 5.0, 16, 312, 356), "XL": (2.9 / 2.0, 5.0, 16, 312, 356)}


def round_width(width: float, divisor: int = 8) -> int:
    """``width`` to a multiple of ``divisor``, rounded up when rounding lost more than 10%."""
    return se_width(width, ratio=1.0, divisor=divisor)


class X3DBlock(nn.Module):
    """1×1×1 → 3×3×3 channel-wise (spatial stride) → [SE] → Swish → 1×1×1; residual (projected
    when the shape changes), ReLU after the sum."""

    def __init__(self, in_channels: int, inner: int, out_channels: int, stride: int, use_se: bool):
        super().__init__()
        self.expand = nn.Sequential(nn.Conv3d(in_channels, inner, 1, bias=False), nn.BatchNorm3d(inner),
                                    nn.ReLU(inplace=True))
        self.channelwise = nn.Conv3d(inner, inner, 3, (1, stride, stride), 1, groups=inner, bias=False)
        self.bn = nn.BatchNorm3d(inner)
        self.se = SqueezeExcite3d(inner) if use_se else nn.Identity()
        self.act = nn.SiLU()
        self.project = nn.Sequential(nn.Conv3d(inner, out_channels, 1, bias=False), nn.BatchNorm3d(out_channels))
        self.shortcut = None
        if in_channels != out_channels or stride != 1:
            self.shortcut = nn.Sequential(nn.Conv3d(in_channels, out_channels, 1, (1, stride, stride), bias=False),
                                          nn.BatchNorm3d(out_channels))

    def forward(self, x):
        y = self.project(self.act(self.se(self.bn(self.channelwise(self.expand(x))))))
        return torch.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class X3D(nn.Module):
    def __init__(self, variant: str, num_classes: int, frames: int, dropout: float = 0.5):
        super().__init__()
        width_mult, depth_mult = VARIANTS[variant][:2]
        self.name, self.frames = f"X3D-{variant}-f{frames}", frames
        stem = round_width(BASE_WIDTH * width_mult)
        self.stem = nn.Sequential(
            nn.Conv3d(3, stem, (1, 3, 3), (1, 2, 2), (0, 1, 1), bias=False),
            nn.Conv3d(stem, stem, (5, 1, 1), padding=(2, 0, 0), groups=stem, bias=False),
            nn.BatchNorm3d(stem), nn.ReLU(inplace=True),
        )
        stages, width = [], stem
        for i, base in enumerate(BASE_BLOCKS):
            out = round_width(BASE_WIDTH * 2**i * width_mult)
            inner = int(BOTTLENECK * out)
            blocks = math.ceil(depth_mult * base)
            stages.append(nn.Sequential(*[X3DBlock(width if b == 0 else out, inner, out, 2 if b == 0 else 1,
                                                   use_se=b % 2 == 0) for b in range(blocks)]))
            width = out
        self.stages = nn.Sequential(*stages)
        conv5 = int(BOTTLENECK * width)
        self.conv5 = nn.Sequential(nn.Conv3d(width, conv5, 1, bias=False), nn.BatchNorm3d(conv5),
                                   nn.ReLU(inplace=True))
        self.fc1 = nn.Conv3d(conv5, HEAD_WIDTH, 1, bias=False)
        self.classifier = Classifier(HEAD_WIDTH, num_classes, dropout)
        msra_init(self)
        for m in self.modules():  # zero-init each block's last BN: blocks start as identities
            if isinstance(m, X3DBlock):
                nn.init.zeros_(m.project[1].weight)

    def forward(self, x):
        check_input(self.name, x, self.frames)
        x = self.conv5(self.stages(self.stem(x)))
        x = torch.relu(self.fc1(x.mean(dim=(2, 3, 4), keepdim=True))).flatten(1)
        return self.classifier(x)


def _builder(variant: str):
    return scratch_builder("X3D", f"X3D-{variant}", partial(X3D, variant),
                           "X3D keeps the temporal resolution in every stage")


for _variant, (_w, _d, _frames, _train, _test) in VARIANTS.items():
    register_architecture(
        f"X3D-{_variant}", paper=PAPER, mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225), default_frames=(_frames,),
        description=f"X3D-{_variant}: {_frames} frames, crop {_train} train / {_test} test, from scratch",
    )(_builder(_variant))
