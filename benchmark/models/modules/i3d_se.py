"""I3D-SE (paper 002, Figure 7): I3D-ResNet with squeeze-excitation at the end of every residual
branch (SENet's placement: after the last BN, before the sum; reduction 16), inflated from the 2D
ResNet's ImageNet weights like I3D. The SE layers have no 2D counterpart and keep their He init."""


from benchmark.models.modules.i3d import UNITS as I3D_UNITS
from benchmark.models.registry import register_module
from benchmark.models.squeeze_excite import SqueezeExcite3d
from benchmark.models.video3d_build import build_video3d
from benchmark.models.video3d_units import Units3d

REDUCTION = 16

def squeeze_excite(channels: int) -> SqueezeExcite3d:
    return SqueezeExcite3d(channels, hidden=channels // REDUCTION)

UNITS = Units3d(conv=I3D_UNITS.conv, stem=I3D_UNITS.stem, branch_end=squeeze_excite)

@register_module("I3D-SE", requires=("video3d", "residual"),
                 description="I3D with squeeze-excitation on every residual branch (residual backbones)",
                 paper="Chen et al., Deep Analysis of CNN-based Spatio-temporal Representations, CVPR 2021 (Fig. 7)")
def build_i3d_se(spec, num_classes, **options):
    return build_video3d(spec, num_classes, UNITS, **options)
