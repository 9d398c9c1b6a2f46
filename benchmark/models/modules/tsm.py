"""TSM: shift 1/8 of the channels one frame back in time and 1/8 one frame forward (zero fill)."""

from __future__ import annotations

import torch

from benchmark.models.registry import register_module
from benchmark.models.temporal import FrameAware
from benchmark.models.video2d import build_video2d


class TemporalShift(FrameAware):
    """Channels ``[0, C/8)`` at frame t take frame t+1's values, ``[C/8, C/4)`` take frame t−1's;
    the rest are untouched; frames shifted in from beyond the clip are zeros. No parameters."""

    def __init__(self, channels: int, fold_div: int = 8) -> None:
        super().__init__()
        self.channels = channels
        self.fold = channels // fold_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        clips = self.to_clips(x)
        f = self.fold
        out = torch.zeros_like(clips)
        out[:, :-1, :f] = clips[:, 1:, :f]  # from the future
        out[:, 1:, f:2 * f] = clips[:, :-1, f:2 * f]  # from the past
        out[:, :, 2 * f:] = clips[:, :, 2 * f:]
        return out.reshape(x.shape)

    def conv_macs(self, inputs, output) -> int:
        return 0  # memory movement only


@register_module("TSM", requires=("residual",), description="temporal shift of 1/4 of the channels on every "
                 "residual branch (residual backbones only)", paper="Lin et al., TSM, ICCV 2019")
def build_tsm(spec, num_classes, **options):
    return build_video2d(spec, num_classes, operator=TemporalShift, **options)
