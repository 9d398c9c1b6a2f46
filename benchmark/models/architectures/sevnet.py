"""SEVNet-G* (Wang & Yang, "An Efficient 3D CNN with Channel-wise, Spatial-grouped, and Temporal
Convolutions"): a ResNet-50-deep (3, 4, 6, 3) 3D network of SEV modules, trained from scratch.

SEV module (paper Sec. 3.1): 1x1x1 conv (channel mixing), 1x3x3 group conv with group *width* G,
3x1x1 temporal conv, each keeping the width C and followed by BN (+ ReLU), plus a residual. The first
module of each stage is the downsample variant: its main branch strides the spatial conv, the
identity is replaced by average pooling + 1x1x1 conv, and the two halves are concatenated, doubling
the width. Stem: 1x7x7 (stride 2) then 3x1x1 convs with 4G channels; stages have 8G/16G/32G/64G
channels; global average pool, dropout, fc. No official code was released: choices the paper does
not state (stride on the group conv, 2x2 average pooling (ceil mode, so odd sizes match the strided conv)
and BN after the shortcut conv, ReLU after the merge) are ours; the parameter and FLOP counts they give match the paper's tables.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from benchmark.errors import ModelError
from benchmark.models.architectures._common import Classifier, check_input, scratch_builder
from benchmark.models.registry import register_architecture
from benchmark.models.weight_init import msra_init

PAPER = "Wang & Yang, An Efficient 3D CNN with Channel-wise, Spatial-grouped, and Temporal Convolutions (SEVNet)"
STAGE_DEPTHS = (3, 4, 6, 3)
GROUP_WIDTHS = (6, 8, 12)  # the variants the paper reports (Tables 2-4)


def conv_bn(in_channels, out_channels, kernel, stride=(1, 1, 1), groups=1, relu=True):
    padding = tuple(k // 2 for k in kernel)
    layers = [nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=padding, groups=groups,
                        bias=False), nn.BatchNorm3d(out_channels)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SEVModule(nn.Module):
    """Channel-wise -> spatial-grouped -> temporal convolutions at constant width C.

    ``downsample``: halve H and W and return 2C channels (main branch concatenated with a pooled,
    projected shortcut) instead of adding the identity.
    """

    def __init__(self, channels: int, group_width: int, downsample: bool = False):
        super().__init__()
        if channels % group_width:
            raise ModelError(f"SEV module: {channels} channels are not a multiple of group width {group_width}")
        stride = (1, 2, 2) if downsample else (1, 1, 1)
        self.channel = conv_bn(channels, channels, (1, 1, 1))
        self.spatial = conv_bn(channels, channels, (1, 3, 3), stride=stride, groups=channels // group_width)
        self.temporal = conv_bn(channels, channels, (3, 1, 1), relu=False)
        self.shortcut = None
        if downsample:
            self.shortcut = nn.Sequential(nn.AvgPool3d((1, 2, 2), stride=(1, 2, 2), ceil_mode=True),
                                          *conv_bn(channels, channels, (1, 1, 1), relu=False))
        self.final_bn = self.temporal[1]

    def forward(self, x):
        y = self.temporal(self.spatial(self.channel(x)))
        y = y + x if self.shortcut is None else torch.cat([y, self.shortcut(x)], dim=1)
        return torch.relu(y)


class SEVNet(nn.Module):
    def __init__(self, group_width: int, num_classes: int, frames: int, dropout: float = 0.5):
        super().__init__()
        self.frames = frames
        self.name = f"SEVNet-G{group_width}-f{frames}"
        g = group_width
        self.stem = nn.Sequential(conv_bn(3, 4 * g, (1, 7, 7), stride=(1, 2, 2)), conv_bn(4 * g, 4 * g, (3, 1, 1)))
        stages, width = [], 4 * g
        for depth in STAGE_DEPTHS:
            blocks = [SEVModule(width, g, downsample=True)]
            width *= 2
            blocks += [SEVModule(width, g) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.classifier = Classifier(width, num_classes, dropout)
        msra_init(self)
        for m in self.modules():  # residual modules start as identities
            if isinstance(m, SEVModule) and m.shortcut is None:
                nn.init.zeros_(m.final_bn.weight)

    def forward(self, x):
        check_input(self.name, x, self.frames)
        x = self.stages(self.stem(x)).mean(dim=(2, 3, 4))
        return self.classifier(x)


def _builder(group_width: int):
    return scratch_builder("SEVNet", f"SEVNet-G{group_width}", partial(SEVNet, group_width),
                           "SEVNet keeps the temporal resolution in every stage")


for _g in GROUP_WIDTHS:
    register_architecture(
        f"SEVNet-G{_g}",
        description=f"SEVNet with group width {_g}: channel-wise, spatial-grouped, temporal convs; from scratch",
        paper=PAPER,
        default_frames=(16, 24),
    )(_builder(_g))
