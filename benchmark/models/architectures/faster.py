"""FASTER (Zhu et al., "FASTER Recurrent Networks for Efficient Video Classification", AAAI 2020).

A video of T frames is cut into N = T / L consecutive clips of L frames. Clips 0, x+1, 2(x+1), ...
go through the expensive clip model, R(2+1)D-50, the others through the cheap R2D-26 (pattern 1:x);
both give ``2048 x L/8 x H/32 x W/32`` feature maps (paper Table 1). FAST-GRU aggregates them in
order, o_0 = x_0, o_t = FAST-GRU(o_{t-1}, x_t), keeping the spatio-temporal resolution (all
transforms are 1x1x1 convolutions) and computing its read/update gates through a bottleneck
(2c -> c/4 -> c, ReLU between); o_{N-1} is average-pooled and classified.

Registered configurations (paper Sec. 5): ``FASTER16`` (L = 16, 1:7) and ``FASTER32`` (L = 32, 1:1),
named with the total number of frames, e.g. ``FASTER32-f256`` = 8 clips of 32 frames (the paper's
setting). The paper trains the clip models first and then the aggregation on frozen features; this
module is trainable end to end, and ``freeze_clip_models=True`` reproduces the second stage.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.errors import ModelError
from benchmark.models.architectures._common import Classifier, load_local_weights
from benchmark.models.options import check_dropout, check_options, reject_tp
from benchmark.models.registry import register_architecture
from benchmark.models.weight_init import msra_init

PAPER = "Zhu et al., FASTER Recurrent Networks for Efficient Video Classification, AAAI 2020"
FEATURES = 2048
# name -> (clip length L, cheap clips per expensive clip x)
CONFIGS = {"FASTER16": (16, 7), "FASTER32": (32, 1)}


def conv_bn_relu(in_channels, out_channels, kernel, stride=(1, 1, 1), relu=True):
    layers = [nn.Conv3d(in_channels, out_channels, kernel, stride=stride,
                        padding=tuple(k // 2 for k in kernel), bias=False), nn.BatchNorm3d(out_channels)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


def r2plus1d_width(in_channels: int, out_channels: int, t: int = 3, d: int = 3) -> int:
    """Width of the (2+1)D middle layer that keeps the parameters of a t x d x d conv (R(2+1)D rule):
    64 -> 64 gives 144, as in the paper's Table 1."""
    return (t * d * d * in_channels * out_channels) // (d * d * in_channels + t * out_channels)


class ClipBottleneck(nn.Module):
    """1x1x1 -> spatial 1x3x3 [-> temporal 3x1x1 when factorised] -> 1x1x1, residual."""

    def __init__(self, in_channels, planes, out_channels, spatial_stride=1, temporal_stride=1, factorised=True):
        super().__init__()
        self.reduce = conv_bn_relu(in_channels, planes, (1, 1, 1))
        if factorised:
            mid = r2plus1d_width(planes, planes)
            self.middle = nn.Sequential(
                conv_bn_relu(planes, mid, (1, 3, 3), stride=(1, spatial_stride, spatial_stride)),
                conv_bn_relu(mid, planes, (3, 1, 1), stride=(temporal_stride, 1, 1)),
            )
        else:
            self.middle = conv_bn_relu(planes, planes, (1, 3, 3), stride=(1, spatial_stride, spatial_stride))
        self.expand = conv_bn_relu(planes, out_channels, (1, 1, 1), relu=False)
        self.shortcut = None
        if in_channels != out_channels or spatial_stride != 1 or temporal_stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, 1, stride=(temporal_stride, spatial_stride, spatial_stride),
                          bias=False),
                nn.BatchNorm3d(out_channels),
            )

    def forward(self, x):
        y = self.expand(self.middle(self.reduce(x)))
        return torch.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ClipNetwork(nn.Module):
    """ResNet-style 3D feature extractor: stem, max pool, four bottleneck stages (no head)."""

    def __init__(self, stem: nn.Sequential, depths, temporal_strides, factorised: bool):
        super().__init__()
        self.stem = stem
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        stages, width = [], 64
        for i, (depth, t_stride) in enumerate(zip(depths, temporal_strides)):
            planes, out = 64 * 2**i, 256 * 2**i
            blocks = [ClipBottleneck(width if j == 0 else out, planes, out,
                                   spatial_stride=2 if i > 0 and j == 0 else 1,
                                   temporal_stride=t_stride if j == 0 else 1, factorised=factorised)
                      for j in range(depth)]
            stages.append(nn.Sequential(*blocks))
            width = out
        self.stages = nn.Sequential(*stages)

    def forward(self, x):
        return self.stages(self.pool(self.stem(x)))


def r2plus1d_50() -> ClipNetwork:
    """The expensive model: (2+1)D stem (1x7x7, 45 ch, then 3x1x1 to 64), bottlenecks (3, 4, 6, 3),
    temporal stride 2 in res3-res5 (L/8 frames out)."""
    stem = nn.Sequential(conv_bn_relu(3, 45, (1, 7, 7), stride=(1, 2, 2)), conv_bn_relu(45, 64, (3, 1, 1)))
    return ClipNetwork(stem, (3, 4, 6, 3), (1, 2, 2, 2), factorised=True)


def r2d_26() -> ClipNetwork:
    """The cheap model: an 8x7x7 stem with temporal stride 8 (L/8 frames), then 2D bottlenecks (2, 2, 2, 2)."""
    stem = nn.Sequential(nn.Conv3d(3, 64, (8, 7, 7), stride=(8, 2, 2), padding=(0, 3, 3), bias=False),
                         nn.BatchNorm3d(64), nn.ReLU(inplace=True))
    return ClipNetwork(stem, (2, 2, 2, 2), (1, 1, 1, 1), factorised=False)


class FastGRU(nn.Module):
    """FAST-GRU cell on feature maps (paper Eqs. 3-4), every transform a 1x1x1 convolution:

    r = sigmoid(W_r ReLU(U_r [x, o])), z = sigmoid(W_z ReLU(U_z [x, o]))   (bottleneck c -> c/4 -> c)
    o' = tanh(V_x x + V_o (r * o)),     o_t = (1 - z) * o + z * o'
    """

    def __init__(self, channels: int = FEATURES, reduction: int = 4):
        super().__init__()
        hidden = channels // reduction
        self.read_in = nn.Conv3d(2 * channels, hidden, 1)  # [U_rx, U_ro] applied to [x, o]
        self.read_out = nn.Conv3d(hidden, channels, 1)  # W_r
        self.update_in = nn.Conv3d(2 * channels, hidden, 1)
        self.update_out = nn.Conv3d(hidden, channels, 1)
        self.candidate_x = nn.Conv3d(channels, channels, 1)  # V_x
        self.candidate_o = nn.Conv3d(channels, channels, 1, bias=False)  # V_o

    def forward(self, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        joint = torch.cat([x, state], dim=1)
        read = torch.sigmoid(self.read_out(torch.relu(self.read_in(joint))))
        update = torch.sigmoid(self.update_out(torch.relu(self.update_in(joint))))
        candidate = torch.tanh(self.candidate_x(x) + self.candidate_o(read * state))
        return (1 - update) * state + update * candidate


class Faster(nn.Module):
    def __init__(self, num_classes: int, frames: int, clip_length: int, cheap_per_expensive: int,
                 dropout: float = 0.5, name: str = "FASTER"):
        super().__init__()
        if clip_length % 8 or frames % clip_length:
            raise ModelError(f"{name}: frames ({frames}) must be a multiple of the clip length {clip_length} "
                             f"(itself a multiple of 8: both clip models reduce time by 8)")
        self.name, self.frames, self.clip_length = name, frames, clip_length
        clips = frames // clip_length
        # clip i is expensive when i % (x + 1) == 0: the pattern 1:x starts with an expensive clip
        self.expensive_clips = [i for i in range(clips) if i % (cheap_per_expensive + 1) == 0]
        self.cheap_clips = [i for i in range(clips) if i % (cheap_per_expensive + 1)]
        self.expensive = r2plus1d_50()
        self.cheap = r2d_26() if self.cheap_clips else None
        self.aggregate = FastGRU()
        self.classifier = Classifier(FEATURES, num_classes, dropout)
        self.clip_models_frozen = False
        msra_init(self)

    def freeze_clip_models(self) -> None:
        """Fix both clip models (weights and BN statistics): the paper's second training stage."""
        self.clip_models_frozen = True
        for clip_model in (self.expensive, self.cheap):
            if clip_model is not None:
                clip_model.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.clip_models_frozen:
            for clip_model in (self.expensive, self.cheap):
                if clip_model is not None:
                    clip_model.eval()
        return self

    def clip_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature map of every clip, in order; clips sharing a model run as one batch."""
        batch = x.shape[0]
        clips = x.split(self.clip_length, dim=2)
        features: list[torch.Tensor | None] = [None] * len(clips)
        for model, indices in ((self.expensive, self.expensive_clips), (self.cheap, self.cheap_clips)):
            if indices:
                out = model(torch.cat([clips[i] for i in indices]))
                for i, f in zip(indices, out.split(batch)):
                    features[i] = f
        return features

    def forward(self, x):
        if x.dim() != 5 or x.shape[1] != 3 or x.shape[2] != self.frames:
            raise ModelError(f"{self.name}: expected input (B, 3, {self.frames}, H, W), got {tuple(x.shape)}")
        features = self.clip_features(x)
        state = features[0]
        for f in features[1:]:
            state = self.aggregate(state, f)
        return self.classifier(state.mean(dim=(2, 3, 4)))


def _builder(config: str):
    clip_length, ratio = CONFIGS[config]

    def build(spec, num_classes: int, **options):
        check_options(spec.name, options, ("pretrained", "dropout", "inflate", "freeze_clip_models"))
        reject_tp(spec, "the clip models fix their own temporal strides")
        model = Faster(num_classes, spec.frames, clip_length, ratio,
                       check_dropout(spec.name, options.get("dropout", 0.5)), name=spec.name)
        load_local_weights(model, options.get("pretrained"), spec.name,
                           imagenet_hint="FASTER is trained from scratch; pass None or a local checkpoint "
                                         "saved from this model")
        if options.get("freeze_clip_models", False):
            model.freeze_clip_models()
        return model

    build.__doc__ = f"Build {config} (clips of {clip_length} frames, 1 expensive : {ratio} cheap)."
    return build


for _config, (_length, _ratio) in CONFIGS.items():
    register_architecture(
        _config,
        description=f"R(2+1)D-50 / R2D-26 clips of {_length} frames (1:{_ratio}) aggregated by FAST-GRU",
        paper=PAPER,
        mean=(0.43216, 0.394666, 0.37645),
        std=(0.22803, 0.22145, 0.216989),
        default_frames=(256,),
    )(_builder(_config))
