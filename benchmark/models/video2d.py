"""The generic 2D video network: an image backbone applied per frame, temporal operators inserted
at the positions its layout declares, optional temporal pooling, and the frame-averaging head.

TSN, TAM, TSM, Conv and NLN are all this network with a different operator (or none); a new
per-frame module only provides an operator factory ``channels -> nn.Module``. Nothing here knows a
backbone family: stage order, pooling points and operator positions come from the
:class:`~benchmark.models.layout.BackboneLayout` in the backbone's registry entry.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from benchmark.models.heads import FrameAveragingHead
from benchmark.models.layout import BackboneLayout
from benchmark.models.naming import ModelSpec
from benchmark.models.options import check_options
from benchmark.models.placement import placement_indices
from benchmark.models.registry import BACKBONES
from benchmark.models.temporal import assign_frames
from benchmark.models.temporal_pooling import TemporalMaxPool

OperatorFactory = Callable[[int], nn.Module]


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


def insert_operators(net2d: nn.Module, layout: BackboneLayout, factory: OperatorFactory,
                     placement: str = "all") -> int:
    """Insert ``factory(channels)`` at the operator points of ``layout`` that ``placement`` keeps
    (:mod:`benchmark.models.placement`), in order; return how many."""
    points = layout.operator_points(net2d)
    keep = placement_indices(placement, len(points))
    for i in keep:
        points[i].insert(factory(points[i].channels))
    return len(keep)


def per_frame_stages(net2d: nn.Module, layout: BackboneLayout, tp: bool) -> nn.Sequential:
    """The per-frame feature extractor (``layout.order``), temporal max pools at ``pool_after`` if tp."""
    parts = OrderedDict()
    for name in layout.order:
        parts[name] = getattr(net2d, name)
        if tp and name in layout.pool_after:
            parts[layout.pool_after[name]] = TemporalMaxPool()
    return nn.Sequential(parts)


def build_video2d(spec: ModelSpec, num_classes: int, *, operator: OperatorFactory | None = None,
                  modify: Callable[[nn.Module, BackboneLayout], None] | None = None, placement: str = "all",
                  **options) -> Video2DNet:
    """Build a per-frame 2D video network for ``spec``.

    ``operator``: factory inserted at the backbone's operator points (see :func:`insert_operators`);
    ``modify(net2d, layout)``: any other in-place change of the 2D model (e.g. adding non-local
    blocks), applied after the weights are loaded. ``placement``: which operator points get one
    (:data:`benchmark.models.placement.PLACEMENTS`). ``options``: ``pretrained``, ``dropout``,
    ``inflate`` (ignored: nothing to inflate).
    """
    check_options(spec.name, options)
    entry = BACKBONES[spec.backbone]
    net2d = entry.builder(pretrained=options.get("pretrained"))
    if operator is not None:
        insert_operators(net2d, entry.layout, operator, placement)
    if modify is not None:
        modify(net2d, entry.layout)
    features = per_frame_stages(net2d, entry.layout, spec.tp)
    head = FrameAveragingHead(net2d.fc.in_features, num_classes, options.get("dropout", 0.5))
    return Video2DNet(features, head, spec.frames)
