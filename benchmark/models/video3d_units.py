"""3D conv units: what each k×k conv of a 2D backbone becomes in a 3D network.

A 3D module (I3D, S3D, ...) is a :class:`Units3d` passed to a backbone family's 3D builder, the way
torchvision's video ResNets take ``conv_makers``. A unit returns *parts* ``(suffix, Conv3d, BN)``
run in order with ReLU between; the family names them after the 2D layer (``conv2`` + suffix in
a ResNet block, ``conv`` + suffix in an InceptionV1 unit), so the part with suffix ``""`` carries
the 2D conv's name and receives its (inflated) weights, and the other parts keep their init.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

Part = tuple[str, nn.Conv3d, nn.BatchNorm3d]


class ConvUnit:
    """Base of 3D conv units; subclasses define :meth:`parts`."""

    def parts(self, in_channels: int, out_channels: int, kernel_size: int, stride: tuple[int, int] = (1, 1), *,
              groups: int = 1, bn_eps: float = 1e-5, temporal_bias: bool = False) -> list[Part]:
        """The parts replacing a ``kernel_size``² conv with ``stride`` = (time, space).

        ``temporal_bias`` is the family's convention for convs a unit adds to model time (the
        official S3D-InceptionV1 gives them a bias, S3D-ResNet does not).
        """
        raise NotImplementedError


@dataclass(frozen=True)
class Inflated(ConvUnit):
    """k×k → ``time``×k×k (``time`` None: k×k×k, I3D's full inflation); stride and padding in time too."""

    time: int | None = None

    def parts(self, in_channels, out_channels, kernel_size, stride=(1, 1), *, groups=1, bn_eps=1e-5,
              temporal_bias=False):
        t, k = self.time or kernel_size, kernel_size
        conv = nn.Conv3d(in_channels, out_channels, (t, k, k), (stride[0], stride[1], stride[1]),
                         (t // 2, k // 2, k // 2), groups=groups, bias=False)
        return [("", conv, nn.BatchNorm3d(out_channels, eps=bn_eps))]


@dataclass(frozen=True)
class Separable(ConvUnit):
    """S3D: 1×k×k (spatial stride, the 2D weights) then k×1×1 (temporal stride, suffix ``_t``), no
    channel expansion between them."""

    def parts(self, in_channels, out_channels, kernel_size, stride=(1, 1), *, groups=1, bn_eps=1e-5,
              temporal_bias=False):
        k, p = kernel_size, kernel_size // 2
        spatial = nn.Conv3d(in_channels, out_channels, (1, k, k), (1, stride[1], stride[1]), (0, p, p),
                            groups=groups, bias=False)
        spatial_bn = nn.BatchNorm3d(out_channels, eps=bn_eps)
        temporal = nn.Conv3d(out_channels, out_channels, (k, 1, 1), (stride[0], 1, 1), (p, 0, 0),
                             bias=temporal_bias)
        return [("", spatial, spatial_bn), ("_t", temporal, nn.BatchNorm3d(out_channels, eps=bn_eps))]


@dataclass(frozen=True)
class Units3d:
    """What a 3D module puts into a family's 3D builder.

    ``conv``: the unit for every k×k conv of the stages. ``stem``: the unit for the 7×7 stem conv in
    families that let the module choose it (InceptionV1; the ResNet family keeps the official
    3×7×7 stem for every module). ``last_pool(x, time_stride)``: the pooling before the last stage
    in families that pool between stages (InceptionV1's before 5a); None: the family's usual pool.
    ``branch_end(channels)``: a module applied to each residual branch's output before the sum
    (I3D-SE's squeeze-excitation), in families with residual blocks; it has no 2D counterpart, so
    it keeps its init when 2D weights are inflated. None: nothing.
    """

    conv: ConvUnit
    stem: ConvUnit = field(default_factory=lambda: Inflated(time=3))
    last_pool: Callable | None = None
    branch_end: Callable[[int], nn.Module] | None = None


class Conv3dUnit(nn.Module):
    """A unit as a module of its own (InceptionV1's ``BasicConv2d`` counterpart): for each part
    ``conv{suffix}``, ``bn{suffix}``, ``relu{suffix}``, run in order."""

    def __init__(self, parts: list[Part]):
        super().__init__()
        self.suffixes = [suffix for suffix, _, _ in parts]
        for suffix, conv, bn in parts:
            self.add_module(f"conv{suffix}", conv)
            self.add_module(f"bn{suffix}", bn)
            self.add_module(f"relu{suffix}", nn.ReLU(inplace=True))

    def forward(self, x):
        for suffix in self.suffixes:
            x = getattr(self, f"relu{suffix}")(getattr(self, f"bn{suffix}")(getattr(self, f"conv{suffix}")(x)))
        return x
