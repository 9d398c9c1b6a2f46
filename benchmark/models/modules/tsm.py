"""TSM: shift 1/8 of the channels one frame back in time and 1/8 one frame forward (zero fill), on
the residual branch of every block — of every other block (the first, third, ... of each stage) when
the backbone's deepest stage has 23 or more blocks (ResNet-101/152), the canonical implementation's
``n_round = 2`` rule (it tests layer3, the deepest stage of a ResNet)."""

from __future__ import annotations

import torch
from torch import nn

from benchmark.models.layout import BackboneLayout
from benchmark.models.registry import register_module
from benchmark.models.temporal import FrameAware
from benchmark.models.temporal_ops import temporal_shift
from benchmark.models.video2d import build_video2d

DEEP_STAGE = 23  # a stage this deep makes TSM shift every other block (n_round = 2)


class TemporalShift(FrameAware):
    """Channels ``[0, C/8)`` at frame t take frame t+1's values, ``[C/8, C/4)`` take frame t−1's;
    the rest are untouched; frames shifted in from beyond the clip are zeros. No parameters."""

    def __init__(self, channels: int, fold_div: int = 8) -> None:
        super().__init__()
        self.channels = channels
        self.fold = channels // fold_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return temporal_shift(self.to_clips(x), self.fold).reshape(x.shape)

    def conv_macs(self, inputs, output) -> int:
        return 0  # memory movement only


@register_module("TSM", requires=("residual",),
                 description="temporal shift of 1/4 of the channels on every residual branch (every other "
                 "one in ResNet-101/152; residual backbones only)", paper="Lin et al., TSM, ICCV 2019")
def build_tsm(spec, num_classes, **options):
    return build_video2d(spec, num_classes, modify=insert_shifts, **options)


def shifted_blocks(net2d: nn.Module, layout: BackboneLayout) -> list[nn.Module]:
    """The blocks whose residual branch gets a shift: block i of each stage when i % n_round == 0."""
    stages = layout.residual.stages(net2d)
    n_round = 2 if max(len(stage) for stage in stages) >= DEEP_STAGE else 1
    return [block for stage in stages for i, block in enumerate(stage) if i % n_round == 0]


def insert_shifts(net2d: nn.Module, layout: BackboneLayout) -> None:
    """A shift at the residual-branch input of each of :func:`shifted_blocks` (``conv1`` becomes
    ``Sequential(TemporalShift, conv1)``; the shortcut reads the unshifted input, as TSM's ``blockres``)."""
    shifted = {id(block) for block in shifted_blocks(net2d, layout)}
    for point in layout.operator_points(net2d):
        if id(point.owner) in shifted:
            point.insert(TemporalShift(point.channels))
