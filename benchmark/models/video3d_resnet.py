"""3D ResNets of the official implementation: I3D-ResNet ("ResNet3D") and S3D-ResNet (R(2+1)D-like).

Both keep torchvision's layout and names; ``kind`` decides what each 3×3 conv of a block becomes:
``"i3d"`` a 3×3×3 conv, ``"s3d"`` a 1×3×3 conv (spatial stride) + BN + ReLU + 3×1×1 conv (temporal
stride) with ``planes`` middle channels and no biases. Stem: 3×7×7 conv, stride (1,2,2), padding
(1,3,3), then max pool (1,3,3)/(1,2,2). Temporal pooling (``tp``) is a temporal stride of 2 in the
first block of layer2–4 (its 3×3 conv and its 1×1×1 downsample), not a pooling layer.
"""

from __future__ import annotations

from torch import nn

from benchmark.models.heads import FrameAveragingHead
from benchmark.models.video3d import Video3DNet, init_3d_weights

# torchvision's ResNet depths: (block type, blocks per stage).
RESNET_LAYOUTS: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "ResNet18": ("basic", (2, 2, 2, 2)),
    "ResNet34": ("basic", (3, 4, 6, 3)),
    "ResNet50": ("bottleneck", (3, 4, 6, 3)),
    "ResNet101": ("bottleneck", (3, 4, 23, 3)),
}
KINDS = ("i3d", "s3d")


class _Block3d(nn.Module):
    """A torchvision residual block whose 3×3 convs are inflated according to ``kind``."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.relu = nn.ReLU(inplace=True)

    def _add_conv3x3(self, index: int, in_planes, planes, stride_t=1, stride_s=1) -> None:
        """Create ``conv{index}``/``bn{index}`` (and S3D's ``conv{index}_t``/``bn{index}_t``)."""
        if self.kind == "i3d":
            conv = nn.Conv3d(in_planes, planes, 3, (stride_t, stride_s, stride_s), 1, bias=False)
        else:
            conv = nn.Conv3d(in_planes, planes, (1, 3, 3), (1, stride_s, stride_s), (0, 1, 1), bias=False)
            self.add_module(f"conv{index}_t", nn.Conv3d(planes, planes, (3, 1, 1), (stride_t, 1, 1),
                                                         (1, 0, 0), bias=False))
            self.add_module(f"bn{index}_t", nn.BatchNorm3d(planes))
        self.add_module(f"conv{index}", conv)
        self.add_module(f"bn{index}", nn.BatchNorm3d(planes))

    def _conv3x3(self, index: int, x, relu: bool):
        """Apply the inflated conv ``index`` + BN (+ ReLU unless it ends the residual branch)."""
        x = getattr(self, f"bn{index}")(getattr(self, f"conv{index}")(x))
        if self.kind == "s3d":
            x = self.relu(x)
            x = getattr(self, f"bn{index}_t")(getattr(self, f"conv{index}_t")(x))
        return self.relu(x) if relu else x

    def _shortcut(self, x):
        return x if self.downsample is None else self.downsample(x)


class BasicBlock3d(_Block3d):
    expansion = 1

    def __init__(self, kind, inplanes, planes, stride_t=1, stride_s=1, downsample=None):
        super().__init__(kind)
        self._add_conv3x3(1, inplanes, planes, stride_t, stride_s)
        self._add_conv3x3(2, planes, planes)
        self.downsample = downsample

    def forward(self, x):
        out = self._conv3x3(2, self._conv3x3(1, x, relu=True), relu=False)
        return self.relu(out + self._shortcut(x))


class Bottleneck3d(_Block3d):
    expansion = 4

    def __init__(self, kind, inplanes, planes, stride_t=1, stride_s=1, downsample=None):
        super().__init__(kind)
        self.conv1 = nn.Conv3d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self._add_conv3x3(2, planes, planes, stride_t, stride_s)
        self.conv3 = nn.Conv3d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn3(self.conv3(self._conv3x3(2, out, relu=True)))
        return self.relu(out + self._shortcut(x))


class ResNet3d(Video3DNet):
    """I3D-/S3D-ResNet for ``backbone`` in :data:`RESNET_LAYOUTS`; input (B, 3, T, H, W)."""

    def __init__(self, kind: str, backbone: str, num_classes: int, *, tp: bool = False,
                 dropout: float = 0.5):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        block_type, layers = RESNET_LAYOUTS[backbone]
        block = BasicBlock3d if block_type == "basic" else Bottleneck3d
        self.kind = kind
        self.conv1 = nn.Conv3d(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
        inplanes = 64
        for stage, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers), start=1):
            stride_s = 1 if stage == 1 else 2
            stride_t = 2 if tp and stage > 1 else 1
            downsample = None
            if stride_s != 1 or inplanes != planes * block.expansion:
                downsample = nn.Sequential(
                    nn.Conv3d(inplanes, planes * block.expansion, 1, (stride_t, stride_s, stride_s),
                              bias=False),
                    nn.BatchNorm3d(planes * block.expansion),
                )
            stage_blocks = [block(kind, inplanes, planes, stride_t, stride_s, downsample)]
            inplanes = planes * block.expansion
            stage_blocks += [block(kind, inplanes, planes) for _ in range(1, blocks)]
            setattr(self, f"layer{stage}", nn.Sequential(*stage_blocks))
        self.head = FrameAveragingHead(inplanes, num_classes, dropout)
        init_3d_weights(self)

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))
