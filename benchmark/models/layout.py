"""What a backbone declares about itself so that shared builders never switch on its name.

A :class:`BackboneLayout` sits in the backbone's registry entry. The 2D video builder reads the
stage order, the temporal-pooling points and the operator positions from it; 3D modules call its
``video3d`` builder (the family's 3D network with this backbone's stage table); modules that only
make sense on some backbones (TSM, NLN: residual blocks) ask for a capability, not for names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class OperatorPoint:
    """One place where a temporal operator goes: ``owner.attr`` becomes ``Sequential(op, layer)``
    (``before``: the operator sees the layer's input) or ``Sequential(layer, op)``; ``channels``
    is the width of the tensor the operator sees."""

    owner: nn.Module
    attr: str
    channels: int
    before: bool

    def insert(self, operator: nn.Module) -> None:
        layer = getattr(self.owner, self.attr)
        setattr(self.owner, self.attr, nn.Sequential(operator, layer) if self.before
                else nn.Sequential(layer, operator))


@dataclass(frozen=True)
class ResidualStages:
    """Capability ``"residual"``: the backbone's stages are sequences of residual blocks.

    ``names``: the stage attributes of the 2D model, in order; ``out_channels(block)``: a block's
    output width (what a non-local block appended after it sees).
    """

    names: tuple[str, ...]
    out_channels: Callable[[nn.Module], int]

    def stages(self, net2d: nn.Module) -> list[nn.Sequential]:
        return [getattr(net2d, name) for name in self.names]


@dataclass(frozen=True)
class BackboneLayout:
    """How a 2D backbone is laid out for the video builders.

    ``family``: a label for listings. ``order``: the 2D model's children from the input to the last
    stage, in execution order. ``pool_after``: child name -> name of the temporal max pool inserted
    after it in ``-tp`` models. ``operator_points(net2d)``: where per-frame temporal operators go, in
    order. ``residual``: see :class:`ResidualStages` (None: not a residual network).
    ``video3d(units, num_classes, *, tp, dropout)``: the family's 3D network for this backbone
    (None: no 3D version), see :mod:`benchmark.models.video3d_units`.
    """

    family: str
    order: tuple[str, ...]
    pool_after: Mapping[str, str]
    operator_points: Callable[[nn.Module], list[OperatorPoint]]
    residual: ResidualStages | None = None
    video3d: Callable[..., nn.Module] | None = None

    @property
    def capabilities(self) -> frozenset[str]:
        """What modules may ask for: ``"residual"``, ``"video3d"``."""
        return frozenset(name for name, present in (("residual", self.residual), ("video3d", self.video3d))
                         if present is not None)
