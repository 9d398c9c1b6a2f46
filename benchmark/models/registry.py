"""Registries of backbones, spatio-temporal modules and extra architectures.

A new temporal module (2D or 3D) or backbone is one file in ``benchmark/models/modules/`` or
``backbones/`` (or any module imported through ``STBENCH_PLUGINS``) that decorates its builder with
:func:`register_module` / :func:`register_backbone`; grids, the CLI, the profiler and reports find
it by name with no other edit, because they all go through these tables. A backbone carries its
:class:`~benchmark.models.layout.BackboneLayout`; a module says which backbones it works on by the
layout capabilities it ``requires`` (or, for a network of its own, an explicit ``backbones`` list).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmark.errors import ModelError, StbenchError
from benchmark.models.layout import BackboneLayout
from benchmark.plugins import Registry


@dataclass(frozen=True)
class BackboneEntry:
    """A 2D image backbone that spatio-temporal modules are built on."""

    name: str
    builder: Callable[..., Any]  # builder(pretrained=None) -> the 2D torchvision-style model
    layout: BackboneLayout
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    description: str = ""

    @property
    def family(self) -> str:
        return self.layout.family


@dataclass(frozen=True)
class ModuleEntry:
    """A spatio-temporal module: ``builder(spec, num_classes, **options) -> nn.Module``."""

    name: str
    builder: Callable[..., Any]
    backbones: tuple[str, ...] | None = None  # a network of its own on these backbones only
    requires: tuple[str, ...] = ()  # layout capabilities a backbone needs (e.g. "residual", "video3d")
    description: str = ""
    paper: str = ""
    imagenet: bool = True  # pretrained="imagenet" works (torchvision weights of its backbone)

    def supports(self, backbone: BackboneEntry) -> bool:
        if self.backbones is not None:
            return backbone.name in self.backbones
        return set(self.requires) <= backbone.layout.capabilities


@dataclass(frozen=True)
class ArchitectureEntry:
    """A complete video architecture with its own backbone (e.g. VoV3D-M).

    ``builder(spec, num_classes, **options)``; the name takes ``[-tp]-f{frames}`` like any model.
    """

    name: str
    builder: Callable[..., Any]
    description: str = ""
    paper: str = ""
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    default_frames: tuple[int, ...] = field(default=(8, 16, 32, 64))
    imagenet: bool = False  # complete architectures have no torchvision ImageNet weights


_PACKAGES = ("benchmark.models.backbones", "benchmark.models.modules", "benchmark.models.architectures")
# One name space for the three tables: a model name's first part must say which table it is in.
BACKBONES: Registry[BackboneEntry] = Registry("backbone", _PACKAGES, ModelError)
MODULES: Registry[ModuleEntry] = Registry("module", _PACKAGES, ModelError)
ARCHITECTURES: Registry[ArchitectureEntry] = Registry("architecture", _PACKAGES, ModelError)


def _add(table: Registry, name: str, entry) -> None:
    if "-" in name and table is BACKBONES:
        raise ValueError(f"backbone name {name!r} must not contain '-' (it separates name parts)")
    for other in (BACKBONES, MODULES, ARCHITECTURES):
        if name.lower() in (k.lower() for k in other.raw()):
            raise ValueError(f"{table.kind} name {name!r} is already registered")
    table.add(name, entry)


def register_backbone(name: str, *, layout: BackboneLayout, mean, std, description: str = ""):
    """Register ``builder(pretrained=None)`` (a 2D model) with the ``layout`` shared builders read."""
    if not isinstance(layout, BackboneLayout):
        raise ValueError(f"backbone {name!r}: layout must be a BackboneLayout, got {type(layout).__name__}")

    def decorator(builder):
        _add(BACKBONES, name, BackboneEntry(name, builder, layout, tuple(mean), tuple(std), description))
        return builder

    return decorator


def register_module(name: str, *, requires=(), backbones=None, description: str = "", paper: str = "",
                    imagenet: bool = True):
    """Register ``builder(spec, num_classes, **options)``; it works on every backbone whose layout has
    the capabilities in ``requires`` or, with ``backbones``, on those only."""
    def decorator(builder):
        _add(MODULES, name, ModuleEntry(name, builder, tuple(backbones) if backbones else None, tuple(requires),
                                        description, paper, imagenet))
        return builder

    return decorator


def register_architecture(name: str, *, description: str = "", paper: str = "", mean=None, std=None,
                          default_frames=(8, 16, 32, 64)):
    def decorator(builder):
        extra = {}
        if mean is not None:
            extra["mean"] = tuple(mean)
        if std is not None:
            extra["std"] = tuple(std)
        _add(ARCHITECTURES, name, ArchitectureEntry(name, builder, description, paper,
                                                    default_frames=tuple(default_frames), **extra))
        return builder

    return decorator


def load_plugins() -> None:
    """Import every built-in backbone/module/architecture file and the user's ``STBENCH_PLUGINS``."""
    try:
        MODULES.load()
    except StbenchError as exc:
        raise ModelError(str(exc)) from exc


def list_backbones() -> list[str]:
    load_plugins()
    return BACKBONES.names()


def list_modules() -> list[str]:
    load_plugins()
    return MODULES.names()


def supported_backbones(module: str) -> list[str]:
    """The registered backbones ``module`` can be built on."""
    load_plugins()
    entry = MODULES[module]
    return [name for name, backbone in BACKBONES.items() if entry.supports(backbone)]


def list_architectures() -> list[str]:
    load_plugins()
    return ARCHITECTURES.names()
