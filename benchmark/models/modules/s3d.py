"""S3D: each 3×3 conv factorised into 1×3×3 then 3×1×1 (BN + ReLU between), no channel expansion;
on ResNet this is the paper's R(2+1)D-like variant."""

from benchmark.models.registry import register_module
from benchmark.models.video3d_build import build_video3d
from benchmark.models.video3d_inception import narrow_pool
from benchmark.models.video3d_units import Inflated, Separable, Units3d

# InceptionV1: a 3×7×7 stem and the 2×2×2 pool before 5a of the official S3D.
UNITS = Units3d(conv=Separable(), stem=Inflated(time=3), last_pool=narrow_pool)


@register_module("S3D", requires=("video3d",),
                 description="separable 3D convolutions: spatial 1x3x3 then temporal 3x1x1",
                 paper="Xie et al., Rethinking Spatiotemporal Feature Learning (S3D), ECCV 2018")
def build_s3d(spec, num_classes, **options):
    return build_video3d(spec, num_classes, UNITS, **options)
