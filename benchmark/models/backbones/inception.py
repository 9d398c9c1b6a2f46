"""InceptionV1 image backbone: torchvision's GoogLeNet without the auxiliary heads, and its layout."""

from __future__ import annotations

from torch import nn

from benchmark.models.layout import BackboneLayout, OperatorPoint
from benchmark.models.registry import register_backbone
from benchmark.models.video3d_inception import InceptionV1_3d
from benchmark.models.weights import load_backbone_weights

# torchvision's GoogLeNet weights were ported from TensorFlow and expect pixels scaled to [-1, 1]
# (torchvision hides this behind ``transform_input``); we normalise the input that way instead.
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)

INCEPTION_BLOCKS = ("inception3a", "inception3b", "inception4a", "inception4b", "inception4c",
                    "inception4d", "inception4e", "inception5a", "inception5b")
# Operators go after the three stem convs and after every inception block (12 positions).
OPERATOR_POINTS = ("conv1", "conv2", "conv3") + INCEPTION_BLOCKS


def out_channels(layer: nn.Module) -> int:
    """Output channels of a GoogLeNet BasicConv2d or Inception block."""
    if hasattr(layer, "conv"):
        return layer.conv.out_channels
    return sum(branch[-1].conv.out_channels if isinstance(branch, nn.Sequential) else branch.conv.out_channels
               for branch in (layer.branch1, layer.branch2, layer.branch3, layer.branch4))


def after_each_stage(net2d: nn.Module) -> list[OperatorPoint]:
    return [OperatorPoint(net2d, name, out_channels(getattr(net2d, name)), before=False) for name in OPERATOR_POINTS]


LAYOUT = BackboneLayout(
    family="inception",
    order=("conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
           "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
           "inception5a", "inception5b"),
    pool_after={"maxpool2": "tpool2", "maxpool3": "tpool3", "maxpool4": "tpool4"},
    operator_points=after_each_stage,
    video3d=InceptionV1_3d,
)


@register_backbone("InceptionV1", layout=LAYOUT, mean=INCEPTION_MEAN, std=INCEPTION_STD,
                   description="InceptionV1 / GoogLeNet (9 inception blocks, no auxiliary heads)")
def build_inception_v1(pretrained=None):
    """The 2D torchvision GoogLeNet (1000-class fc, ``transform_input=False``, no aux heads)."""
    from torchvision import models as tvm  # when built, not when listed (backbones/resnet.py says why)

    model = tvm.googlenet(weights=None, aux_logits=False, transform_input=False, init_weights=True)
    return load_backbone_weights(model, pretrained, imagenet=tvm.GoogLeNet_Weights.IMAGENET1K_V1,
                                 ignore=("aux1.", "aux2."))
