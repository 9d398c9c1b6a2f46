"""I3D: every 3×3 conv of the backbone (every k×k conv of InceptionV1) inflated to 3×k×k."""

from benchmark.models.registry import register_module
from benchmark.models.video3d_build import VIDEO3D_BACKBONES, build_video3d


@register_module("I3D", backbones=VIDEO3D_BACKBONES,
                 description="3D convolutions inflated from the 2D backbone (official stems and pools)",
                 paper="Carreira & Zisserman, Quo Vadis, Action Recognition?, CVPR 2017")
def build_i3d(spec, num_classes, **options):
    return build_video3d("i3d", spec, num_classes, **options)
