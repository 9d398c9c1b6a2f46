"""Models: backbones x spatio-temporal modules x temporal pooling x frames, plus extra architectures."""

from benchmark.models.build import build_model, has_imagenet_weights, input_normalization
from benchmark.models.naming import ModelSpec, model_name, parse_model_name
from benchmark.models.profile import profile_model
from benchmark.models.registry import (
    ARCHITECTURES,
    BACKBONES,
    MODULES,
    list_architectures,
    list_backbones,
    list_modules,
    load_plugins,
    register_architecture,
    register_backbone,
    register_module,
    supported_backbones,
)

__all__ = [
    "ARCHITECTURES",
    "BACKBONES",
    "MODULES",
    "ModelSpec",
    "build_model",
    "has_imagenet_weights",
    "input_normalization",
    "list_architectures",
    "list_backbones",
    "list_modules",
    "load_plugins",
    "model_name",
    "parse_model_name",
    "profile_model",
    "register_architecture",
    "register_backbone",
    "register_module",
    "supported_backbones",
]
