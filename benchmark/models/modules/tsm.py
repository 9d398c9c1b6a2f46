"""TSM: shift 1/8 of the channels one frame back in time and 1/8 one frame forward (zero fill), on
the residual branch of every block — of every other block (the first, third, ... of each stage) when
the backbone's deepest stage has 23 or more blocks (ResNet-101/152), the canonical implementation's
``n_round = 2`` rule (it tests layer3, the deepest stage of a ResNet)."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from benchmark.models.held_shift import (
    Held,
    held_add,
    held_shift_conv,
    holdable,
    network_forward,
    restore_first,
)
from benchmark.models.layout import BackboneLayout
from benchmark.models.registry import register_module
from benchmark.models.temporal import FrameAware
from benchmark.models.temporal_ops import shifted_conv2d, temporal_shift
from benchmark.models.video2d import Video2DNet, build_video2d

DEEP_STAGE = 23  # a stage this deep makes TSM shift every other block (n_round = 2)


class TemporalShift(FrameAware):
    """Channels ``[0, C/8)`` at frame t take frame t+1's values, ``[C/8, C/4)`` take frame t−1's;
    the rest are untouched; frames shifted in from beyond the clip are zeros. No parameters.

    ``grad_in_place``: see :func:`temporal_shift`; :func:`insert_shifts` sets it where the shift
    feeds a convolution and nothing else."""

    def __init__(self, channels: int, fold_div: int = 8, grad_in_place: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.fold = channels // fold_div
        self.grad_in_place = grad_in_place

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return temporal_shift(self.to_clips(x), self.fold, self.grad_in_place).reshape(x.shape)

    def conv_macs(self, inputs, output) -> int:
        return 0  # memory movement only


class ShiftThenConv(nn.Sequential):
    """``Sequential(TemporalShift, Conv2d)`` (the same submodules and state-dict keys) whose forward,
    on contiguous CPU maps, shifts in the input's own memory instead of into a copy
    (:func:`~benchmark.models.temporal_ops.shifted_conv2d`): one copy of every block's input is what
    TSM otherwise adds to TSN's cost. Elsewhere (CUDA, channels_last, autocast, under torch.compile)
    it runs the two modules in turn."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shift, conv = self[0], self[1]
        if self._fusable(x, conv):
            shift.to_clips(x)  # names a batch that is not a multiple of the frames
            return shifted_conv2d(x, shift.frames, shift.fold, conv)
        return conv(shift(x))

    @staticmethod
    def _fusable(x: torch.Tensor, conv: nn.Conv2d) -> bool:
        return (x.device.type == "cpu" and x.dim() == 4 and x.is_contiguous() and type(conv) is nn.Conv2d
                and conv.padding_mode == "zeros" and isinstance(conv.padding, tuple)
                and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling())


class _HeldShiftBlock:
    """A torchvision residual block with ``conv1`` a :class:`ShiftThenConv` whose training forward
    keeps the block's input shifted until the backward (:mod:`benchmark.models.held_shift`: two or
    three quarter-channel passes instead of five). The same modules, state-dict keys and values;
    anything else runs the block's own forward."""

    def _hold(self, x: torch.Tensor) -> Held | None:
        shift, conv = self.conv1[0], self.conv1[1]
        if not ShiftThenConv._fusable(x, conv) or not holdable(x, conv.weight):
            return None
        shift.to_clips(x)  # names a batch that is not a multiple of the frames
        return Held(x, shift.frames, shift.fold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        held = self._hold(x)
        if held is None:
            return super().forward(x)
        # torchvision's forward, the downsample first (it reads x before the shift)
        shortcut = None if self.downsample is None else restore_first(self.downsample(x), held)
        out = self._rest_of_branch(self.relu(self.bn1(held_shift_conv(x, self.conv1[1], held))))
        if shortcut is None:
            return self.relu(held_add(out, x, held))
        out += shortcut
        return self.relu(out)


class HeldShiftBottleneck(_HeldShiftBlock, Bottleneck):
    def _rest_of_branch(self, out: torch.Tensor) -> torch.Tensor:
        return self.bn3(self.conv3(self.relu(self.bn2(self.conv2(out)))))


class HeldShiftBasicBlock(_HeldShiftBlock, BasicBlock):
    def _rest_of_branch(self, out: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(out))


HELD_SHIFT_BLOCKS = {Bottleneck: HeldShiftBottleneck, BasicBlock: HeldShiftBasicBlock}


@register_module("TSM", requires=("residual",),
                 description="temporal shift of 1/4 of the channels on every residual branch (every other "
                 "one in ResNet-101/152; residual backbones only)", paper="Lin et al., TSM, ICCV 2019")
def build_tsm(spec, num_classes, **options):
    net = build_video2d(spec, num_classes, modify=insert_shifts, **options)
    net.__class__ = TSMNet  # same modules: only its forward changes
    return net


class TSMNet(Video2DNet):
    """The 2D video network whose blocks may hold their inputs shifted in its forward
    (:func:`~benchmark.models.held_shift.network_forward`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_compiling():  # compiled, the blocks run torchvision's forward anyway
            return super().forward(x)
        with network_forward(self):
            return super().forward(x)


def shifted_blocks(net2d: nn.Module, layout: BackboneLayout) -> list[nn.Module]:
    """The blocks whose residual branch gets a shift: block i of each stage when i % n_round == 0."""
    stages = layout.residual.stages(net2d)
    n_round = 2 if max(len(stage) for stage in stages) >= DEEP_STAGE else 1
    return [block for stage in stages for i, block in enumerate(stage) if i % n_round == 0]


def insert_shifts(net2d: nn.Module, layout: BackboneLayout) -> None:
    shifted = {id(block) for block in shifted_blocks(net2d, layout)}
    for point in layout.operator_points(net2d):
        if id(point.owner) in shifted:
            layer = getattr(point.owner, point.attr)
            if point.before and isinstance(layer, nn.Conv2d):
                # the conv's backward makes the gradient the shift receives: shifting it in place is safe
                setattr(point.owner, point.attr, ShiftThenConv(TemporalShift(point.channels, grad_in_place=True),
                                                               layer))
                held = HELD_SHIFT_BLOCKS.get(type(point.owner))
                if held is not None and point.attr == "conv1":
                    point.owner.__class__ = held  # same modules: only its forward changes
            else:
                point.insert(TemporalShift(point.channels))
