"""TAM: depthwise temporal aggregation, y_t = ReLU(w₋₁⊙x_{t−1} + w₀⊙x_t + w₊₁⊙x_{t+1})."""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from benchmark.errors import ModelError
from benchmark.models.options import COMMON_OPTIONS, check_options
from benchmark.models.placement import placement_indices
from benchmark.models.registry import BACKBONES, register_module
from benchmark.models.temporal import FrameAware
from benchmark.models.temporal_ops import temporal_aggregation
from benchmark.models.video2d import build_video2d

WEIGHT_INITS = ("identity", "uniform", "fan_out")
# The build option ``tam_init``; "official" resolves per backbone family (OFFICIAL_INIT).
TAM_INITS = ("official", "identity", "uniform")
# The official code's init of TAM's three depthwise 1×1 convs: its ResNet runs the model-wide
# kaiming_normal_(mode="fan_out") loop over them (and loads ImageNet weights with strict=False, so
# TAM keeps it); its InceptionV1 never calls an init, leaving PyTorch's default, U(−1, 1) here.
OFFICIAL_INIT = {"resnet": "fan_out"}
DEFAULT_INIT = "uniform"


class TemporalAggregation(FrameAware):
    """One weight per channel per temporal offset (3·C parameters), no bias, zero padding in time.

    ``weight[:, 0]``, ``[:, 1]``, ``[:, 2]`` weigh frames t−1, t, t+1 (the official code's three
    depthwise convs). ``init``: ``"identity"`` (w₀ = 1, w±1 = 0: the inputs it sees are post-ReLU,
    so a network loaded from 2D weights starts out computing exactly its TSN counterpart),
    ``"uniform"`` (U(−1, 1), PyTorch's default for a depthwise 1×1 conv, fan-in 1) or ``"fan_out"``
    (N(0, 2/C), kaiming_normal_ with mode fan_out of a (C, 1, 1, 1) kernel; the three offsets are
    drawn one after the other, as three convs).
    """

    def __init__(self, channels: int, init: str = "identity") -> None:
        super().__init__()
        if init not in WEIGHT_INITS:
            raise ValueError(f"TAM init must be one of {', '.join(WEIGHT_INITS)}, got {init!r}")
        self.channels = channels
        if init == "identity":
            weight = torch.zeros(channels, 3)
            weight[:, 1] = 1.0
        elif init == "uniform":
            weight = torch.empty(channels, 3).uniform_(-1.0, 1.0)
        else:
            weight = torch.empty(3, channels).normal_(0.0, math.sqrt(2.0 / channels)).t().contiguous()
        self.weight = nn.Parameter(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return temporal_aggregation(self.to_clips(x), self.weight).reshape(x.shape)

    def conv_macs(self, inputs, output) -> int:
        """Counted as three depthwise 1×1 convolutions: 3·C·H·W per frame (the official convention)."""
        return 3 * output.numel()


def weight_init(spec, tam_init: str) -> str:
    """The :class:`TemporalAggregation` init that build option ``tam_init`` means on ``spec``'s backbone."""
    if tam_init not in TAM_INITS:
        raise ModelError(f"{spec.name}: tam_init must be one of {', '.join(TAM_INITS)}, got {tam_init!r}")
    if tam_init == "official":
        return OFFICIAL_INIT.get(BACKBONES[spec.backbone].family, DEFAULT_INIT)
    return tam_init


@register_module("TAM", description="depthwise temporal aggregation (k=3) on every residual branch / "
                 "after every InceptionV1 stage", paper="Fan et al., bLVNet-TAM, NeurIPS 2019")
def build_tam(spec, num_classes, **options):
    """Options: the common ones, ``tam_init`` ("official", the default, as the official code on
    this backbone; "identity"; "uniform", U(−1, 1) on every backbone) and ``tam_placement`` (which
    blocks get a TAM, paper 002 Table 6: "all", the default, "top-half", "bottom-half",
    "uniform-half"; see :mod:`benchmark.models.placement`)."""
    check_options(spec.name, options, allowed=COMMON_OPTIONS + ("tam_init", "tam_placement"))
    options = dict(options)
    init = weight_init(spec, options.pop("tam_init", "official"))
    placement = options.pop("tam_placement", "all")
    placement_indices(placement, 0, f"{spec.name}: tam_placement")  # a bad value named before building
    return build_video2d(spec, num_classes, operator=partial(TemporalAggregation, init=init),
                         placement=placement, **options)
