"""ResNet-152 (torchvision, Bottleneck [3, 8, 36, 3]): the deeper ResNet of CSN-ResNet152, and a
backbone for every module that works on ResNets."""

from benchmark.models.backbones.resnet import IMAGENET_MEAN, IMAGENET_STD, resnet_layout
from benchmark.models.registry import register_backbone
from benchmark.models.weights import load_backbone_weights


@register_backbone("ResNet152", layout=resnet_layout("bottleneck", (3, 8, 36, 3)), mean=IMAGENET_MEAN,
                   std=IMAGENET_STD, description="ResNet-152 (Bottleneck [3,8,36,3])")
def build_resnet152(pretrained=None):
    """The 2D torchvision ResNet-152 (1000-class fc), optionally ImageNet-initialised."""
    from torchvision import models as tvm  # when built, not when listed (backbones/resnet.py says why)

    return load_backbone_weights(tvm.resnet152(weights=None), pretrained,
                                 imagenet=tvm.ResNet152_Weights.IMAGENET1K_V1)
