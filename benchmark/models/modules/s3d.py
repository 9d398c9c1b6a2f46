"""S3D: each 3×3 conv factorised into 1×3×3 then 3×1×1 (BN + ReLU between), no channel expansion;
on ResNet this is the paper's R(2+1)D-like variant."""

from benchmark.models.registry import register_module
from benchmark.models.video3d_build import VIDEO3D_BACKBONES, build_video3d


@register_module("S3D", backbones=VIDEO3D_BACKBONES,
                 description="separable 3D convolutions: spatial 1x3x3 then temporal 3x1x1",
                 paper="Xie et al., Rethinking Spatiotemporal Feature Learning (S3D), ECCV 2018")
def build_s3d(spec, num_classes, **options):
    return build_video3d("s3d", spec, num_classes, **options)
