"""The 3D ResNet builder (I3D-ResNet "ResNet3D", S3D-ResNet, ...): torchvision's ResNet layout and
names with each 3×3 conv of a block replaced by the module's :class:`~benchmark.models.video3d_units.ConvUnit`.

The stage table (block type, blocks per stage, groups, width per group) comes from the backbone's
layout, so any torchvision ResNet-like backbone (ResNet-152, ResNeXt) has a 3D version. Stem: 3×7×7
conv, stride (1,2,2), padding (1,3,3), then max pool (1,3,3)/(1,2,2), for every module (the official
ResNet3D's). Temporal pooling (``tp``) is a temporal stride of 2 in the first block of layer2–4 (its
3×3 conv and its 1×1×1 downsample), not a pooling layer. A unit's parts are registered on the block
last part first (``conv2_t`` before ``conv2``), the order the official code created them in, which
fixes which random draws each conv gets.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from benchmark.models.heads import FrameAveragingHead
from benchmark.models.video3d import Video3DNet
from benchmark.models.video3d_units import ConvUnit, Inflated, Units3d
from benchmark.models.weight_init import msra_init

STEM = Inflated(time=3)


@dataclass(frozen=True)
class ResNetTable:
    """A torchvision ResNet's shape: ``block`` "basic" or "bottleneck", blocks per stage, the
    bottleneck's ``groups`` × ``width_per_group`` (ResNeXt; 1 × 64 for a plain ResNet) and the
    stages' widths (the stem's is the first)."""

    block: str
    layers: tuple[int, int, int, int]
    groups: int = 1
    width_per_group: int = 64
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)


class _Block3d(nn.Module):
    """A torchvision residual block whose 3×3 convs are the module's unit."""

    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU(inplace=True)
        self.unit_suffixes: dict[int, list[str]] = {}

    def _add_unit(self, index: int, unit: ConvUnit, in_planes, planes, stride=(1, 1), groups=1) -> None:
        """Create ``conv{index}``/``bn{index}`` and the unit's other parts (``conv{index}_t``, ...)."""
        parts = unit.parts(in_planes, planes, 3, stride, groups=groups)
        self.unit_suffixes[index] = [suffix for suffix, _, _ in parts]
        for suffix, conv, bn in reversed(parts):
            self.add_module(f"conv{index}{suffix}", conv)
            self.add_module(f"bn{index}{suffix}", bn)

    def _unit(self, index: int, x, relu: bool):
        """Apply unit ``index`` (BN after each part, ReLU between; at the end unless it ends the branch)."""
        suffixes = self.unit_suffixes[index]
        for i, suffix in enumerate(suffixes):
            x = getattr(self, f"bn{index}{suffix}")(getattr(self, f"conv{index}{suffix}")(x))
            if relu or i < len(suffixes) - 1:
                x = self.relu(x)
        return x

    def _shortcut(self, x):
        return x if self.downsample is None else self.downsample(x)

    def _add_branch_end(self, units: Units3d, channels: int) -> None:
        if units.branch_end is not None:
            self.branch_end = units.branch_end(channels)

    def _end(self, out):
        end = getattr(self, "branch_end", None)
        return out if end is None else end(out)


class BasicBlock3d(_Block3d):
    expansion = 1

    def __init__(self, units, inplanes, planes, stride=(1, 1), downsample=None, table=None):
        super().__init__()
        self._add_unit(1, units.conv, inplanes, planes, stride)
        self._add_unit(2, units.conv, planes, planes)
        self._add_branch_end(units, planes)
        self.downsample = downsample

    def forward(self, x):
        out = self._end(self._unit(2, self._unit(1, x, relu=True), relu=False))
        return self.relu(out + self._shortcut(x))


class Bottleneck3d(_Block3d):
    expansion = 4

    def __init__(self, units, inplanes, planes, stride=(1, 1), downsample=None, table=None):
        super().__init__()
        groups, width_per_group = (table.groups, table.width_per_group) if table else (1, 64)
        width = int(planes * (width_per_group / 64.0)) * groups
        self.conv1 = nn.Conv3d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self._add_unit(2, units.conv, width, width, stride, groups)
        self.conv3 = nn.Conv3d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self._add_branch_end(units, planes * self.expansion)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self._end(self.bn3(self.conv3(self._unit(2, out, relu=True))))
        return self.relu(out + self._shortcut(x))


BLOCKS = {"basic": BasicBlock3d, "bottleneck": Bottleneck3d}


class ResNet3d(Video3DNet):
    """A 3D ResNet of shape ``table`` whose 3×3 convs are ``units.conv``; input (B, 3, T, H, W)."""

    def __init__(self, table: ResNetTable, units: Units3d, num_classes: int, *, tp: bool = False,
                 dropout: float = 0.5):
        super().__init__()
        block = BLOCKS[table.block]
        (_, conv1, bn1), = STEM.parts(3, table.widths[0], 7, (1, 2))
        self.conv1, self.bn1 = conv1, bn1
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
        inplanes = table.widths[0]
        for stage, (planes, blocks) in enumerate(zip(table.widths, table.layers), start=1):
            stride = (2 if tp and stage > 1 else 1, 1 if stage == 1 else 2)
            downsample = None
            if stride[1] != 1 or inplanes != planes * block.expansion:
                downsample = nn.Sequential(
                    nn.Conv3d(inplanes, planes * block.expansion, 1, (stride[0], stride[1], stride[1]), bias=False),
                    nn.BatchNorm3d(planes * block.expansion),
                )
            stage_blocks = [block(units, inplanes, planes, stride, downsample, table)]
            inplanes = planes * block.expansion
            stage_blocks += [block(units, inplanes, planes, table=table) for _ in range(1, blocks)]
            setattr(self, f"layer{stage}", nn.Sequential(*stage_blocks))
        self.head = FrameAveragingHead(inplanes, num_classes, dropout)
        msra_init(self, fc_std=0.001)

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))
