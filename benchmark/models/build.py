"""Building a model from its canonical name."""

from __future__ import annotations

from benchmark.errors import ModelError
from benchmark.models.naming import ModelSpec, parse_model_name
from benchmark.models.registry import ARCHITECTURES, BACKBONES, MODULES


def build_model(name: str | ModelSpec, num_classes: int, **options):
    """Build ``name`` for ``num_classes``; input (B, 3, T, H, W), output (B, num_classes) logits.

    Options common to all builders: ``pretrained`` (None, ``"imagenet"`` or a local weights file),
    ``dropout`` (before the classifier) and, for inflated 3D models, ``inflate`` (``"copy"`` or
    ``"divide"``). Builders reject options they do not know.
    """
    spec = parse_model_name(name) if isinstance(name, str) else name
    if num_classes < 1:
        raise ModelError(f"num_classes must be positive, got {num_classes}")
    if spec.is_architecture:
        return ARCHITECTURES[spec.module].builder(spec, num_classes, **options)
    return MODULES[spec.module].builder(spec, num_classes, **options)


def input_normalization(name: str | ModelSpec) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) the model's ImageNet initialisation expects, on a 0..1 pixel scale."""
    spec = parse_model_name(name) if isinstance(name, str) else name
    entry = ARCHITECTURES[spec.module] if spec.is_architecture else BACKBONES[spec.backbone]
    return entry.mean, entry.std


def has_imagenet_weights(name: str | ModelSpec) -> bool:
    """Whether ``pretrained="imagenet"`` can initialise ``name`` (torchvision weights of its backbone)."""
    spec = parse_model_name(name) if isinstance(name, str) else name
    entry = ARCHITECTURES[spec.module] if spec.is_architecture else MODULES[spec.module]
    return entry.imagenet
