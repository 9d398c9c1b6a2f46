"""ResNet-18/34/50/101 image backbones (torchvision builders, ImageNet statistics), and
:func:`resnet_layout`, the layout of any torchvision ``ResNet`` (a new one, e.g. ResNet-152 or
ResNeXt, registers with it in one file).

torchvision is imported when a network is built, not with this file: login-node commands (launch,
status, collect) load every backbone file for its name and layout only."""

from __future__ import annotations

from functools import partial

from torch import nn

from benchmark.models.layout import BackboneLayout, OperatorPoint, ResidualStages
from benchmark.models.registry import register_backbone
from benchmark.models.video3d_resnet import ResNet3d, ResNetTable
from benchmark.models.weights import load_backbone_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STAGES = ("layer1", "layer2", "layer3", "layer4")


def residual_branch_inputs(net2d: nn.Module) -> list[OperatorPoint]:
    """The input of every block's residual branch: ``conv1`` becomes ``Sequential(operator, conv1)``;
    the shortcut (identity or downsample) still reads the block's un-aggregated input, as in TAM/TSM."""
    return [OperatorPoint(block, "conv1", block.conv1.in_channels, before=True)
            for stage in STAGES for block in getattr(net2d, stage)]


def block_out_channels(block: nn.Module) -> int:
    """Output width of a torchvision BasicBlock (bn2) or Bottleneck (bn3)."""
    return block.bn3.num_features if hasattr(block, "bn3") else block.bn2.num_features


def resnet_layout(block: str, layers: tuple[int, int, int, int], *, groups: int = 1,
                  width_per_group: int = 64, widths: tuple[int, int, int, int] = (64, 128, 256, 512)) -> BackboneLayout:
    """Layout of a torchvision ResNet with ``block`` ("basic"/"bottleneck") × ``layers`` (and ResNeXt's
    ``groups`` × ``width_per_group``, stage ``widths``): operators on every residual branch, temporal
    pools after layer1-3, and the 3D ResNet of the same table."""
    table = ResNetTable(block, tuple(layers), groups, width_per_group, tuple(widths))
    return BackboneLayout(
        family="resnet",
        order=("conv1", "bn1", "relu", "maxpool", *STAGES),
        pool_after={"layer1": "tpool1", "layer2": "tpool2", "layer3": "tpool3"},
        operator_points=residual_branch_inputs,
        residual=ResidualStages(STAGES, block_out_channels),
        video3d=partial(ResNet3d, table),
    )


def _register(name: str, builder: str, weights: str, layout: BackboneLayout, description: str) -> None:
    """``builder``, ``weights``: names in ``torchvision.models`` (``resnet18``, ``ResNet18_Weights``)."""
    def build(pretrained=None):
        """The 2D torchvision ResNet (1000-class fc), optionally ImageNet-initialised."""
        from torchvision import models as tvm

        imagenet = getattr(tvm, weights).IMAGENET1K_V1
        return load_backbone_weights(getattr(tvm, builder)(weights=None), pretrained, imagenet=imagenet)

    build.__name__ = f"build_{name.lower()}"
    register_backbone(name, layout=layout, mean=IMAGENET_MEAN, std=IMAGENET_STD, description=description)(build)


# IMAGENET1K_V1: the original model-zoo weights the official implementation initialised from.
_register("ResNet18", "resnet18", "ResNet18_Weights", resnet_layout("basic", (2, 2, 2, 2)),
          "ResNet-18 (BasicBlock [2,2,2,2])")
_register("ResNet34", "resnet34", "ResNet34_Weights", resnet_layout("basic", (3, 4, 6, 3)),
          "ResNet-34 (BasicBlock [3,4,6,3])")
_register("ResNet50", "resnet50", "ResNet50_Weights", resnet_layout("bottleneck", (3, 4, 6, 3)),
          "ResNet-50 (Bottleneck [3,4,6,3])")
_register("ResNet101", "resnet101", "ResNet101_Weights",
          resnet_layout("bottleneck", (3, 4, 23, 3)), "ResNet-101 (Bottleneck [3,4,23,3])")
