"""SlowFast (Feichtenhofer et al., "SlowFast Networks for Video Recognition", ICCV 2019), trained
from scratch.

Two 3D ResNet pathways on the same clip: the Fast pathway sees all T frames (the frames in the
name, ``SlowFast8x8-ResNet50-f32``: 32) with β = 1/8 of the channels; the Slow pathway sees every
α-th frame (``8x8``: 8 frames, α = 4) at full width. Following the paper's Table 1: the Slow stem is
1×7×7 and its bottlenecks have temporal kernels (3×1×1 first conv) only in res4 and res5; the Fast
stem is 5×7×7 and every Fast bottleneck has one. Time is never strided inside a pathway. After the
stem (pool included), res2, res3 and res4 a lateral connection (time-strided conv, kernel k×1×1,
stride α, 2βC channels, BN, ReLU) maps the Fast features onto the Slow pathway's frames, where they
are concatenated. k is 5 (the paper's text) except in R50-8×8 and R50-16×8, where the reference
configuration's 7 is what its published parameter count (34.57M) needs. Head: global
average of each pathway, concatenated, dropout, fc. ``-tp`` is rejected.

The Slow pathway's frames are ``x[:, :, ::α]`` (frames 0, α, 2α, ...).
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.errors import ModelError
from benchmark.models.architectures._common import Classifier, check_input, load_local_weights
from benchmark.models.options import check_dropout, check_options, reject_tp
from benchmark.models.registry import register_architecture
from benchmark.models.weight_init import msra_init

PAPER = "Feichtenhofer et al., SlowFast Networks for Video Recognition, ICCV 2019"
DEPTHS = {"ResNet50": (3, 4, 6, 3), "ResNet101": (3, 4, 23, 3)}
# name -> (backbone, Slow frames T, alpha, lateral kernel k, blocks per stage with temporal kernels).
# The name's frames (the Fast pathway's) are T x alpha. The kernels and the temporal-kernel block
# counts are those of the reference configurations whose costs the published figures are: R101-16x8
# is the "R101_50_50" variant (temporal kernels only in the first 3/4/6/3 blocks of each stage, as in R50).
VARIANTS = {
    "SlowFast4x16-ResNet50": ("ResNet50", 4, 8, 5, None),
    "SlowFast8x8-ResNet50": ("ResNet50", 8, 4, 7, None),
    "SlowFast16x8-ResNet50": ("ResNet50", 16, 4, 7, None),
    "SlowFast8x8-ResNet101": ("ResNet101", 8, 4, 5, None),
    "SlowFast16x8-ResNet101": ("ResNet101", 16, 4, 5, (3, 4, 6, 3)),
}
BETA_INV = 8  # the Fast pathway has 1/8 of the channels
FUSION_RATIO = 2  # a lateral connection outputs 2x the Fast channels
SLOW_TEMPORAL = (1, 1, 3, 3)  # temporal kernel of the first bottleneck conv in res2..res5
FAST_TEMPORAL = (3, 3, 3, 3)


def conv_bn(in_channels, out_channels, kernel, stride=(1, 1, 1)) -> list[nn.Module]:
    padding = tuple(k // 2 for k in kernel)
    return [nn.Conv3d(in_channels, out_channels, kernel, stride, padding, bias=False), nn.BatchNorm3d(out_channels)]


class Bottleneck(nn.Module):
    """t×1×1 → 1×3×3 (spatial stride) → 1×1×1, BN after each, ReLU between and after the sum."""

    def __init__(self, in_channels: int, inner: int, out_channels: int, temporal: int, stride: int):
        super().__init__()
        self.branch = nn.Sequential(
            *conv_bn(in_channels, inner, (temporal, 1, 1)), nn.ReLU(inplace=True),
            *conv_bn(inner, inner, (1, 3, 3), (1, stride, stride)), nn.ReLU(inplace=True),
            *conv_bn(inner, out_channels, (1, 1, 1)),
        )
        self.shortcut = None
        if in_channels != out_channels or stride != 1:
            self.shortcut = nn.Sequential(*conv_bn(in_channels, out_channels, (1, 1, 1), (1, stride, stride)))

    def forward(self, x):
        return nn.functional.relu(self.branch(x) + (x if self.shortcut is None else self.shortcut(x)))


def stage(in_channels: int, inner: int, out_channels: int, blocks: int, temporal: int, stride: int,
          temporal_blocks: int) -> nn.Sequential:
    """``blocks`` bottlenecks; the first ``temporal_blocks`` have the ``temporal`` kernel, the rest 1."""
    return nn.Sequential(*[Bottleneck(in_channels if i == 0 else out_channels, inner, out_channels,
                                      temporal if i < temporal_blocks else 1, stride if i == 0 else 1)
                           for i in range(blocks)])


class Lateral(nn.Module):
    """Fast → Slow: k×1×1 conv with temporal stride α to 2βC channels, BN, ReLU."""

    def __init__(self, fast_channels: int, alpha: int, k: int):
        super().__init__()
        self.conv = nn.Conv3d(fast_channels, fast_channels * FUSION_RATIO, (k, 1, 1), (alpha, 1, 1),
                              (k // 2, 0, 0), bias=False)
        self.bn = nn.BatchNorm3d(fast_channels * FUSION_RATIO)

    def forward(self, fast):
        return nn.functional.relu(self.bn(self.conv(fast)))


def stem(width: int, temporal: int) -> nn.Sequential:
    return nn.Sequential(*conv_bn(3, width, (temporal, 7, 7), (1, 2, 2)), nn.ReLU(inplace=True),
                         nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))


class SlowFast(nn.Module):
    def __init__(self, name: str, variant: tuple, num_classes: int, frames: int, dropout: float = 0.5):
        super().__init__()
        backbone, _, alpha, k, temporal_blocks = variant
        depths = DEPTHS[backbone]
        temporal_blocks = temporal_blocks or depths
        self.name, self.alpha, self.frames = name, alpha, frames
        self.slow_stem, self.fast_stem = stem(64, 1), stem(64 // BETA_INV, 5)
        laterals = [Lateral(64 // BETA_INV, alpha, k)]
        slow_stages, fast_stages = [], []
        slow_in, fast_in = 64 + laterals[0].bn.num_features, 64 // BETA_INV
        for i, (blocks, planes) in enumerate(zip(depths, (64, 128, 256, 512))):
            stride = 1 if i == 0 else 2
            slow_stages.append(stage(slow_in, planes, planes * 4, blocks, SLOW_TEMPORAL[i], stride,
                                     temporal_blocks[i]))
            fast_out = planes * 4 // BETA_INV
            fast_stages.append(stage(fast_in, planes // BETA_INV, fast_out, blocks, FAST_TEMPORAL[i], stride,
                                     temporal_blocks[i]))
            fast_in, slow_in = fast_out, planes * 4
            if i < 3:
                laterals.append(Lateral(fast_out, alpha, k))
                slow_in += fast_out * FUSION_RATIO
        self.slow_stages, self.fast_stages = nn.ModuleList(slow_stages), nn.ModuleList(fast_stages)
        self.laterals = nn.ModuleList(laterals)
        self.classifier = Classifier(slow_in + fast_in, num_classes, dropout)
        msra_init(self)
        for block in self.modules():  # zero-init each block's last BN: blocks start as identities
            if isinstance(block, Bottleneck):
                nn.init.zeros_(block.branch[-1].weight)

    def pathways(self, x):
        """The clip as the two pathways see it: (every α-th frame, every frame)."""
        return x[:, :, ::self.alpha], x

    def forward(self, x):
        check_input(self.name, x, self.frames)
        slow, fast = self.pathways(x)
        slow, fast = self.slow_stem(slow), self.fast_stem(fast)
        for i in range(4):
            slow = torch.cat([slow, self.laterals[i](fast)], dim=1)
            slow, fast = self.slow_stages[i](slow), self.fast_stages[i](fast)
        pooled = torch.cat([slow.mean(dim=(2, 3, 4)), fast.mean(dim=(2, 3, 4))], dim=1)
        return self.classifier(pooled)


def _builder(name: str, variant: tuple):
    alpha = variant[2]

    def build(spec, num_classes: int, **options):
        check_options(spec.name, options)
        reject_tp(spec, "SlowFast never strides time inside a pathway")
        if spec.frames % alpha:
            raise ModelError(f"{spec.name}: the frames ({spec.frames}) must be a multiple of alpha = {alpha} "
                             "(the Slow pathway takes every alpha-th frame)")
        model = SlowFast(spec.name, variant, num_classes, spec.frames,
                         check_dropout(spec.name, options.get("dropout", 0.5)))
        load_local_weights(model, options.get("pretrained"), spec.name,
                           imagenet_hint="SlowFast is trained from scratch; pass None or a local checkpoint "
                                         "saved from this model")
        return model

    build.__doc__ = f"Build {name} (alpha = {alpha}) for ``spec.frames`` Fast-pathway frames."
    return build


for _name, (_backbone, _slow, _alpha, *_) in VARIANTS.items():
    register_architecture(
        _name, paper=PAPER, mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225), default_frames=(_slow * _alpha,),
        description=f"{_name}: Slow pathway {_slow} frames, Fast {_slow * _alpha} (alpha {_alpha}, beta 1/8), "
                    "from scratch",
    )(_builder(_name, VARIANTS[_name]))
