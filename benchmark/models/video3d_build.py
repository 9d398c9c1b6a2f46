"""Building a 3D model from a :class:`ModelSpec` and a module's units: the backbone's own 3D builder
(its layout's ``video3d``), then (optionally) the backbone's 2D weights inflated into it."""

from __future__ import annotations

from benchmark.errors import ModelError
from benchmark.models.inflate import inflate_into
from benchmark.models.naming import ModelSpec
from benchmark.models.options import check_options
from benchmark.models.registry import BACKBONES
from benchmark.models.video3d import Video3DNet
from benchmark.models.video3d_units import Units3d


def build_video3d(spec: ModelSpec, num_classes: int, units: Units3d, **options) -> Video3DNet:
    """Build the 3D network of ``spec.backbone`` made of ``units``. Options: ``dropout``;
    ``pretrained`` (None, ``"imagenet"`` or a local 2D weights file: the 2D backbone is loaded as for
    2D models, then inflated); ``inflate`` ("copy", the official convention, or "divide")."""
    check_options(spec.name, options)
    entry = BACKBONES[spec.backbone]
    if entry.layout.video3d is None:
        raise ModelError(f"{spec.name}: backbone {spec.backbone} has no 3D version (its layout declares no video3d)")
    model = entry.layout.video3d(units, num_classes, tp=spec.tp, dropout=options.get("dropout", 0.5))
    pretrained = options.get("pretrained")
    if pretrained is not None:
        net2d = entry.builder(pretrained=pretrained)
        report = inflate_into(model, net2d.state_dict(), options.get("inflate", "copy"))
        if report.unused:  # the 3D layout lost a 2D layer: a bug, never silently ignored
            raise ModelError(f"{spec.name}: 2D weights not used by the 3D model: {', '.join(report.unused)}")
    return model
