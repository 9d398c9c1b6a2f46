"""ResNet-18/34/50/101 image backbones (torchvision builders, ImageNet statistics)."""

from __future__ import annotations

from torchvision import models as tvm

from benchmark.models.registry import register_backbone
from benchmark.models.weights import load_backbone_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _register(name: str, builder, weights, description: str) -> None:
    def build(pretrained=None):
        """The 2D torchvision ResNet (1000-class fc), optionally ImageNet-initialised."""
        return load_backbone_weights(builder(weights=None), pretrained, imagenet=weights)

    build.__name__ = f"build_{name.lower()}"
    register_backbone(name, family="resnet", mean=IMAGENET_MEAN, std=IMAGENET_STD,
                      description=description)(build)


# IMAGENET1K_V1: the original model-zoo weights the official implementation initialised from.
_register("ResNet18", tvm.resnet18, tvm.ResNet18_Weights.IMAGENET1K_V1, "ResNet-18 (BasicBlock [2,2,2,2])")
_register("ResNet34", tvm.resnet34, tvm.ResNet34_Weights.IMAGENET1K_V1, "ResNet-34 (BasicBlock [3,4,6,3])")
_register("ResNet50", tvm.resnet50, tvm.ResNet50_Weights.IMAGENET1K_V1, "ResNet-50 (Bottleneck [3,4,6,3])")
_register("ResNet101", tvm.resnet101, tvm.ResNet101_Weights.IMAGENET1K_V1,
          "ResNet-101 (Bottleneck [3,4,23,3])")
