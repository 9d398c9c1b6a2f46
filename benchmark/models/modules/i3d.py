"""I3D: every 3×3 conv of the backbone (every k×k conv of InceptionV1) inflated to 3×k×k."""

from benchmark.models.registry import register_module
from benchmark.models.video3d_build import build_video3d
from benchmark.models.video3d_units import Inflated, Units3d

# The stem (where the family lets the module choose it: InceptionV1) is fully inflated, 7×7×7.
UNITS = Units3d(conv=Inflated(), stem=Inflated())


@register_module("I3D", requires=("video3d",),
                 description="3D convolutions inflated from the 2D backbone (official stems and pools)",
                 paper="Carreira & Zisserman, Quo Vadis, Action Recognition?, CVPR 2017")
def build_i3d(spec, num_classes, **options):
    return build_video3d(spec, num_classes, UNITS, **options)
