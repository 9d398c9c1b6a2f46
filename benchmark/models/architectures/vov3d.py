"""VoV3D-M / VoV3D-L (Lee et al., "Diverse Temporal Aggregation and Depthwise Spatiotemporal
Factorization for Efficient Video Classification"): stacked Temporal One-Shot Aggregation (T-OSA)
blocks built from depthwise-factorised D(2+1)D units, trained from scratch.

Layout (paper Table 2, with the per-stage block counts and widths of the authors' release, which the
paper leaves out): a (2+1)D stem (1x3x3 conv, 24 ch, spatial stride 2, then a 5x1x1 depthwise conv);
four stages of T-OSA blocks whose D(2+1)D inner widths are 48/96/192/384 and outputs 24/48/96/192;
M stacks (1, 1, 2, 2) blocks of 4 units, L (1, 2, 5, 3) blocks of 5 units; each stage's first block
halves the resolution. The head is X3D's: 1x1x1 conv to 384, global pool, 1x1x1 conv to 2048 (no
bias) + ReLU, dropout, fc. Time is never strided, so ``-tp`` is rejected.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from benchmark.models.architectures._common import Classifier, check_input, scratch_builder
from benchmark.models.registry import register_architecture
from benchmark.models.squeeze_excite import SqueezeExcite3d
from benchmark.models.weight_init import msra_init

PAPER = "Lee et al., Diverse Temporal Aggregation and Depthwise Spatiotemporal Factorization (VoV3D), 2020"

# variant -> (T-OSA blocks per stage, D(2+1)D units per T-OSA)
VARIANTS = {"M": ((1, 1, 2, 2), 4), "L": ((1, 2, 5, 3), 5)}
BASE_WIDTH = 48  # inner width of the first stage; stages scale it by INNER_SCALE / OUT_SCALE
INNER_SCALE = (1, 2, 4, 8)
OUT_SCALE = (0.5, 1, 2, 4)
HEAD_WIDTH = 2048


class DepthwiseFactorizedUnit(nn.Module):
    """D(2+1)D: 1x1x1 expand, 1x3x3 depthwise (spatial stride) then 3x1x1 depthwise with no
    non-linearity between them (the paper found one hurts), BN, optional SE, Swish, 1x1x1 project
    to half the inner width; residual when shapes allow."""

    def __init__(self, in_channels: int, inner: int, stride: int, use_se: bool):
        super().__init__()
        out = inner // 2
        self.expand = nn.Sequential(nn.Conv3d(in_channels, inner, 1, bias=False), nn.BatchNorm3d(inner),
                                    nn.ReLU(inplace=True))
        self.spatial = nn.Conv3d(inner, inner, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1),
                                 groups=inner, bias=False)
        self.temporal = nn.Conv3d(inner, inner, (3, 1, 1), padding=(1, 0, 0), groups=inner, bias=False)
        self.bn = nn.BatchNorm3d(inner)
        self.se = SqueezeExcite3d(inner) if use_se else nn.Identity()
        self.act = nn.SiLU()
        self.project = nn.Sequential(nn.Conv3d(inner, out, 1, bias=False), nn.BatchNorm3d(out))
        self.residual = in_channels == out and stride == 1

    def forward(self, x):
        y = self.expand(x)
        y = self.act(self.se(self.bn(self.temporal(self.spatial(y)))))
        y = self.project(y)
        if self.residual:
            y = y + x
        return torch.relu(y)


class TemporalOSA(nn.Module):
    """T-OSA: successive D(2+1)D units (temporal receptive fields 3, 5, 7, ...) whose outputs, and
    the block input when the resolution is kept, are concatenated once and fused by a 1x1x1 conv;
    wrapped in a residual connection (projected when the width or resolution changes)."""

    def __init__(self, in_channels: int, out_channels: int, inner: int, units: int, stride: int):
        super().__init__()
        self.keep_input = stride == 1
        layers, width = [], in_channels
        for i in range(units):
            # SE on every other unit, starting with the first (X3D's placement)
            layers.append(DepthwiseFactorizedUnit(width, inner, stride if i == 0 else 1, use_se=i % 2 == 0))
            width = inner // 2
        self.units = nn.ModuleList(layers)
        concat = width * units + (in_channels if self.keep_input else 0)
        self.aggregate = nn.Conv3d(concat, out_channels, 1, bias=False)
        self.aggregate_bn = nn.BatchNorm3d(out_channels)
        self.shortcut = None
        if in_channels != out_channels or stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, 1, stride=(1, stride, stride), bias=False),
                nn.BatchNorm3d(out_channels),
            )

    def forward(self, x):
        features = [x] if self.keep_input else []
        y = x
        for unit in self.units:
            y = unit(y)
            features.append(y)
        y = self.aggregate_bn(self.aggregate(torch.cat(features, dim=1)))
        identity = x if self.shortcut is None else self.shortcut(x)
        return torch.relu(identity + y)


class VoV3D(nn.Module):
    def __init__(self, variant: str, num_classes: int, frames: int, dropout: float = 0.5):
        super().__init__()
        blocks, units = VARIANTS[variant]
        self.frames = frames
        self.name = f"VoV3D-{variant}-f{frames}"
        stem = BASE_WIDTH // 2
        self.stem = nn.Sequential(
            nn.Conv3d(3, stem, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False),
            nn.Conv3d(stem, stem, (5, 1, 1), padding=(2, 0, 0), groups=stem, bias=False),
            nn.BatchNorm3d(stem),
            nn.ReLU(inplace=True),
        )
        stages, width = [], stem
        for count, inner_scale, out_scale in zip(blocks, INNER_SCALE, OUT_SCALE):
            inner, out = int(BASE_WIDTH * inner_scale), int(BASE_WIDTH * out_scale)
            stage = [TemporalOSA(width if i == 0 else out, out, inner, units, 2 if i == 0 else 1)
                     for i in range(count)]
            stages.append(nn.Sequential(*stage))
            width = out
        self.stages = nn.Sequential(*stages)
        conv5 = BASE_WIDTH * INNER_SCALE[-1]
        self.conv5 = nn.Sequential(nn.Conv3d(width, conv5, 1, bias=False), nn.BatchNorm3d(conv5),
                                   nn.ReLU(inplace=True))
        self.fc1 = nn.Conv3d(conv5, HEAD_WIDTH, 1, bias=False)
        self.classifier = Classifier(HEAD_WIDTH, num_classes, dropout)
        msra_init(self)
        for m in self.modules():  # zero-init each T-OSA's last BN: blocks start as identities
            if isinstance(m, TemporalOSA):
                nn.init.zeros_(m.aggregate_bn.weight)

    def forward(self, x):
        check_input(self.name, x, self.frames)
        x = self.conv5(self.stages(self.stem(x)))
        x = x.mean(dim=(2, 3, 4), keepdim=True)
        x = torch.relu(self.fc1(x)).flatten(1)
        return self.classifier(x)


def _builder(variant: str):
    return scratch_builder("VoV3D", f"VoV3D-{variant}", partial(VoV3D, variant),
                           "VoV3D keeps the temporal resolution in every stage")


for _variant, (_blocks, _units) in VARIANTS.items():
    register_architecture(
        f"VoV3D-{_variant}",
        description=f"VoV3D-{_variant}: T-OSA blocks {_blocks} with {_units} D(2+1)D units each, from scratch",
        paper=PAPER,
        mean=(0.45, 0.45, 0.45),
        std=(0.225, 0.225, 0.225),
        default_frames=(16, 32),
    )(_builder(_variant))
