"""NLN: TSN on a residual backbone with non-local blocks (embedded Gaussian) in its 2nd and 3rd stages
(ResNet layer2 and layer3)."""

from __future__ import annotations

import torch
from torch import nn

from benchmark.models.layout import BackboneLayout
from benchmark.models.registry import register_module
from benchmark.models.temporal import FrameAware
from benchmark.models.video2d import build_video2d

# Wang et al.'s 5-block setting: 2 blocks in res3 (stage 2, ResNet layer2) and 3 in res4 (stage 3).
BLOCKS_PER_STAGE = {2: 2, 3: 3}


class NonLocalBlock(FrameAware):
    """z = x + BN(W · softmax(θ(x)ᵀ φ(x)) g(x)) over all T·H·W positions of a clip.

    θ, φ, g: 1×1×1 convs C→C/2 (with bias); W: C/2→C (with bias) followed by a BatchNorm whose
    scale starts at zero, so the block starts as the identity.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = channels // 2
        self.theta = nn.Conv3d(channels, inner, 1)
        self.phi = nn.Conv3d(channels, inner, 1)
        self.g = nn.Conv3d(channels, inner, 1)
        self.out = nn.Conv3d(inner, channels, 1)
        self.bn = nn.BatchNorm3d(channels)
        nn.init.zeros_(self.bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        clips = self.to_clips(x).transpose(1, 2)  # (B, C, T, H, W)
        b, c = clips.shape[:2]
        theta = self.theta(clips).flatten(2)  # (B, C/2, N)
        phi = self.phi(clips).flatten(2)
        g = self.g(clips).flatten(2)
        attention = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (B, N, N)
        y = (g @ attention.transpose(1, 2)).view(b, -1, *clips.shape[2:])  # (B, C/2, T, H, W)
        z = clips + self.bn(self.out(y))
        return z.transpose(1, 2).reshape(x.shape)


def non_local_positions(blocks: int, wanted: int) -> list[int]:
    """Every other block of a stage (indices 1, 3, 5, ...), at most ``wanted`` of them.

    ResNet-50/101 get 2 + 3 blocks; ResNet-18 (2 blocks per stage) gets 1 + 1 and ResNet-34 2 + 3.
    """
    return list(range(1, blocks, 2))[:wanted]


def add_non_local_blocks(net2d: nn.Module, layout: BackboneLayout) -> None:
    """Append a non-local block after the chosen residual blocks of the 2nd and 3rd stages."""
    stages = layout.residual.stages(net2d)
    for stage, wanted in BLOCKS_PER_STAGE.items():
        layer = stages[stage - 1]
        for index in non_local_positions(len(layer), wanted):
            block = layer[index]
            layer[index] = nn.Sequential(block, NonLocalBlock(layout.residual.out_channels(block)))


@register_module("NLN", requires=("residual",), description="TSN + 5 non-local blocks (2 in the 2nd stage, "
                 "3 in the 3rd; residual backbones only)", paper="Wang et al., Non-local Neural Networks, CVPR 2018")
def build_nln(spec, num_classes, **options):
    return build_video2d(spec, num_classes, modify=add_non_local_blocks, **options)
