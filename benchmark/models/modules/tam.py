"""TAM: depthwise temporal aggregation, y_t = ReLU(w₋₁⊙x_{t−1} + w₀⊙x_t + w₊₁⊙x_{t+1})."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.models.registry import register_module
from benchmark.models.temporal import FrameAware
from benchmark.models.video2d import build_video2d


class TemporalAggregation(FrameAware):
    """One weight per channel per temporal offset (3·C parameters), no bias, zero padding in time.

    ``weight[:, 0]``, ``[:, 1]``, ``[:, 2]`` weigh frames t−1, t, t+1. With ``identity=True``
    (used when the backbone is loaded from 2D weights) w₀ = 1, w±1 = 0: the inputs it sees are
    post-ReLU, so an ImageNet-initialised network starts out computing exactly its TSN counterpart.
    Otherwise (random init) each weight is drawn from U(−1, 1), PyTorch's default for the three
    depthwise 1×1 convolutions of the official implementation: an identity start would leave the
    temporal weights at a symmetric point that a network trained from scratch leaves only slowly.
    """

    def __init__(self, channels: int, identity: bool = True) -> None:
        super().__init__()
        self.channels = channels
        if identity:
            weight = torch.zeros(channels, 3)
            weight[:, 1] = 1.0
        else:
            weight = torch.empty(channels, 3).uniform_(-1.0, 1.0)
        self.weight = nn.Parameter(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        clips = self.to_clips(x)  # (B, T, C, H, W)
        padded = F.pad(clips, (0, 0, 0, 0, 0, 0, 1, 1))  # one zero frame at each end
        w = self.weight.view(1, 1, self.channels, 3, 1, 1).unbind(3)
        t = clips.shape[1]
        out = w[0] * padded[:, 0:t] + w[1] * padded[:, 1:t + 1] + w[2] * padded[:, 2:t + 2]
        return F.relu(out).reshape(x.shape)

    def conv_macs(self, inputs, output) -> int:
        """Counted as three depthwise 1×1 convolutions: 3·C·H·W per frame (the official convention)."""
        return 3 * output.numel()


@register_module("TAM", description="depthwise temporal aggregation (k=3) on every residual branch / "
                 "after every InceptionV1 stage", paper="Fan et al., bLVNet-TAM, NeurIPS 2019")
def build_tam(spec, num_classes, **options):
    identity = options.get("pretrained") is not None
    return build_video2d(spec, num_classes, operator=partial(TemporalAggregation, identity=identity), **options)
