"""The generic 2D video network: an image backbone applied per frame, temporal operators inserted
at the backbone's standard positions, optional temporal pooling, and the frame-averaging head.

TSN, TAM, TSM, Conv and NLN are all this network with a different operator (or none); a new
per-frame module only provides an operator factory ``channels -> nn.Module``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator

import torch
from torch import nn

from benchmark.errors import ModelError
from benchmark.models.heads import FrameAveragingHead
from benchmark.models.naming import ModelSpec
from benchmark.models.registry import BACKBONES
from benchmark.models.temporal import assign_frames
from benchmark.models.temporal_pooling import TemporalMaxPool

OperatorFactory = Callable[[int], nn.Module]

INFLATE_CHOICES = ("copy", "divide")


class Video2DNet(nn.Module):
    """``(B, 3, T, H, W)`` clip -> per-frame ``features`` -> ``head`` -> ``(B, classes)`` logits.

    ``frames`` is the clip length the model was named for; a clip of another length is accepted
    (frame-aware operators are re-told the length at each depth before running).
    """

    def __init__(self, features: nn.Module, head: FrameAveragingHead, frames: int) -> None:
        super().__init__()
        self.features = features
        self.head = head
        self.frames = frames
        self.frames_at_head = assign_frames(self.features, frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"expected a clip batch (B, C, T, H, W), got shape {tuple(x.shape)}")
        b, c, t, h, w = x.shape
        if t != self.frames:
            self.frames = t
            self.frames_at_head = assign_frames(self.features, t)
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        return self.head(self.features(frames), b)


# --- ResNet ---------------------------------------------------------------------------------

def resnet_blocks(resnet: nn.Module) -> Iterator[tuple[int, int, nn.Module]]:
    """(stage 1..4, index in stage, block) for every residual block of a torchvision ResNet."""
    for stage in range(1, 5):
        for index, block in enumerate(getattr(resnet, f"layer{stage}")):
            yield stage, index, block


def insert_on_residual_branch(block: nn.Module, operator: nn.Module) -> None:
    """Run ``operator`` on the input of the block's residual branch only.

    The block's first conv becomes ``Sequential(operator, conv1)``; the shortcut (identity or
    downsample) still reads the block's un-aggregated input, as in TAM/TSM.
    """
    block.conv1 = nn.Sequential(operator, block.conv1)


def resnet_stages(resnet: nn.Module, tp: bool) -> nn.Sequential:
    """The per-frame feature extractor (stem .. layer4), temporal max pools after layer1-3 if tp."""
    parts = OrderedDict((name, getattr(resnet, name)) for name in ("conv1", "bn1", "relu", "maxpool"))
    for stage in range(1, 5):
        parts[f"layer{stage}"] = getattr(resnet, f"layer{stage}")
        if tp and stage < 4:
            parts[f"tpool{stage}"] = TemporalMaxPool()
    return nn.Sequential(parts)


# --- InceptionV1 (GoogLeNet) --------------------------------------------------------------------

INCEPTION_BLOCKS = ("inception3a", "inception3b", "inception4a", "inception4b", "inception4c",
                    "inception4d", "inception4e", "inception5a", "inception5b")
# Operators go after the three stem convs and after every inception block (12 positions).
INCEPTION_OPERATOR_POINTS = ("conv1", "conv2", "conv3") + INCEPTION_BLOCKS


def inception_out_channels(layer: nn.Module) -> int:
    """Output channels of a GoogLeNet BasicConv2d or Inception block."""
    if hasattr(layer, "conv"):
        return layer.conv.out_channels
    return sum(branch[-1].conv.out_channels if isinstance(branch, nn.Sequential) else branch.conv.out_channels
               for branch in (layer.branch1, layer.branch2, layer.branch3, layer.branch4))


def inception_stages(googlenet: nn.Module, tp: bool) -> nn.Sequential:
    """conv1 .. inception5b, temporal max pools after maxpool2, maxpool3 and maxpool4 if tp."""
    order = ("conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
             "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
             "inception5a", "inception5b")
    parts = OrderedDict()
    for name in order:
        parts[name] = getattr(googlenet, name)
        if tp and name in ("maxpool2", "maxpool3", "maxpool4"):
            parts[f"tpool{name[-1]}"] = TemporalMaxPool()
    return nn.Sequential(parts)


# --- assembling -----------------------------------------------------------------------------

def insert_operators(net2d: nn.Module, family: str, factory: OperatorFactory) -> int:
    """Insert ``factory(channels)`` at the family's standard positions; return how many.

    ResNet: on the residual-branch input of every block. InceptionV1: after conv1, conv2, conv3
    and each of the 9 inception blocks.
    """
    count = 0
    if family == "resnet":
        for _, _, block in resnet_blocks(net2d):
            insert_on_residual_branch(block, factory(block.conv1.in_channels))
            count += 1
    elif family == "inception":
        for name in INCEPTION_OPERATOR_POINTS:
            layer = getattr(net2d, name)
            setattr(net2d, name, nn.Sequential(layer, factory(inception_out_channels(layer))))
            count += 1
    else:
        raise ModelError(f"no operator positions defined for backbone family {family!r}")
    return count


def check_options(spec: ModelSpec, options: dict, allowed=("pretrained", "dropout", "inflate")) -> dict:
    """Reject unknown build options by name; ``inflate`` is accepted (and unused) by 2D models."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ModelError(f"{spec.name}: unknown build option(s) {', '.join(unknown)} "
                         f"(valid: {', '.join(allowed)})")
    inflate = options.get("inflate", "copy")
    if inflate not in INFLATE_CHOICES:
        raise ModelError(f"{spec.name}: inflate must be one of {', '.join(INFLATE_CHOICES)}, got {inflate!r}")
    return options


def build_video2d(spec: ModelSpec, num_classes: int, *, operator: OperatorFactory | None = None,
                  modify: Callable[[nn.Module, str], None] | None = None, **options) -> Video2DNet:
    """Build a per-frame 2D video network for ``spec``.

    ``operator``: factory inserted at the backbone family's standard positions (see
    :func:`insert_operators`); ``modify(net2d, family)``: any other in-place change of the
    torchvision model (e.g. adding non-local blocks), applied after the weights are loaded.
    ``options``: ``pretrained``, ``dropout``, ``inflate`` (ignored: nothing to inflate).
    """
    check_options(spec, options)
    entry = BACKBONES[spec.backbone]
    net2d = entry.builder(pretrained=options.get("pretrained"))
    if operator is not None:
        insert_operators(net2d, entry.family, operator)
    if modify is not None:
        modify(net2d, entry.family)
    if entry.family == "resnet":
        features = resnet_stages(net2d, spec.tp)
    elif entry.family == "inception":
        features = inception_stages(net2d, spec.tp)
    else:
        raise ModelError(f"{spec.name}: backbone family {entry.family!r} has no 2D video layout")
    head = FrameAveragingHead(net2d.fc.in_features, num_classes, options.get("dropout", 0.5))
    return Video2DNet(features, head, spec.frames)
