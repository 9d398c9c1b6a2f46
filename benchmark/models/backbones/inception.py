"""InceptionV1 image backbone: torchvision's GoogLeNet without the auxiliary heads."""

from __future__ import annotations

from torchvision import models as tvm

from benchmark.models.registry import register_backbone
from benchmark.models.weights import load_backbone_weights

# torchvision's GoogLeNet weights were ported from TensorFlow and expect pixels scaled to [-1, 1]
# (torchvision hides this behind ``transform_input``); we normalise the input that way instead.
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


@register_backbone("InceptionV1", family="inception", mean=INCEPTION_MEAN, std=INCEPTION_STD,
                   description="InceptionV1 / GoogLeNet (9 inception blocks, no auxiliary heads)")
def build_inception_v1(pretrained=None):
    """The 2D torchvision GoogLeNet (1000-class fc, ``transform_input=False``, no aux heads)."""
    model = tvm.googlenet(weights=None, aux_logits=False, transform_input=False, init_weights=True)
    return load_backbone_weights(model, pretrained, imagenet=tvm.GoogLeNet_Weights.IMAGENET1K_V1,
                                 ignore=("aux1.", "aux2."))
