"""Building an I3D/S3D model from a :class:`ModelSpec`: the 3D network, then (optionally) the
backbone's 2D weights inflated into it."""

from __future__ import annotations

from benchmark.errors import ModelError
from benchmark.models.inflate import inflate_into
from benchmark.models.naming import ModelSpec
from benchmark.models.registry import BACKBONES
from benchmark.models.video2d import check_options
from benchmark.models.video3d import Video3DNet
from benchmark.models.video3d_inception import InceptionV1_3d
from benchmark.models.video3d_resnet import RESNET_LAYOUTS, ResNet3d

VIDEO3D_BACKBONES = ("InceptionV1", *RESNET_LAYOUTS)


def build_video3d(kind: str, spec: ModelSpec, num_classes: int, **options) -> Video3DNet:
    """``kind`` "i3d" or "s3d". Options: ``dropout``; ``pretrained`` (None, ``"imagenet"`` or a
    local 2D weights file: the 2D backbone is loaded as for 2D models, then inflated);
    ``inflate`` ("copy", the official convention, or "divide")."""
    check_options(spec, options)
    dropout = options.get("dropout", 0.5)
    if spec.backbone == "InceptionV1":
        model = InceptionV1_3d(kind, num_classes, tp=spec.tp, dropout=dropout)
    elif spec.backbone in RESNET_LAYOUTS:
        model = ResNet3d(kind, spec.backbone, num_classes, tp=spec.tp, dropout=dropout)
    else:
        raise ModelError(f"{spec.name}: no 3D version of backbone {spec.backbone} "
                         f"(supported: {', '.join(VIDEO3D_BACKBONES)})")
    pretrained = options.get("pretrained")
    if pretrained is not None:
        net2d = BACKBONES[spec.backbone].builder(pretrained=pretrained)
        report = inflate_into(model, net2d.state_dict(), options.get("inflate", "copy"))
        if report.unused:  # the 3D layout lost a 2D layer: a bug, never silently ignored
            raise ModelError(f"{spec.name}: 2D weights not used by the 3D model: {', '.join(report.unused)}")
    return model
