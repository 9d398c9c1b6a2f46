"""Registries of backbones, spatio-temporal modules and extra architectures.

A new temporal module is one file in ``benchmark/models/modules/`` (or any module imported through
``STBENCH_PLUGINS``) that decorates its builder with :func:`register_module`; grids, the CLI, the
profiler and reports find it by name with no other edit, because they all go through these tables.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmark.errors import ModelError


@dataclass(frozen=True)
class BackboneEntry:
    """A 2D image backbone that spatio-temporal modules are built on."""

    name: str
    builder: Callable[..., Any]
    family: str  # "resnet" or "inception": modules place their operators per family
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    description: str = ""


@dataclass(frozen=True)
class ModuleEntry:
    """A spatio-temporal module: ``builder(spec, num_classes, **options) -> nn.Module``."""

    name: str
    builder: Callable[..., Any]
    backbones: tuple[str, ...] | None = None  # None: every registered backbone
    description: str = ""
    paper: str = ""
    imagenet: bool = True  # pretrained="imagenet" works (torchvision weights of its backbone)


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


BACKBONES: dict[str, BackboneEntry] = {}
MODULES: dict[str, ModuleEntry] = {}
ARCHITECTURES: dict[str, ArchitectureEntry] = {}


def _check_new(table: dict, name: str, kind: str) -> None:
    if "-" in name and kind == "backbone":
        raise ValueError(f"backbone name {name!r} must not contain '-' (it separates name parts)")
    for other in (BACKBONES, MODULES, ARCHITECTURES):
        if name.lower() in (k.lower() for k in other):
            raise ValueError(f"{kind} name {name!r} is already registered")


def register_backbone(name: str, *, family: str, mean, std, description: str = ""):
    def decorator(builder):
        _check_new(BACKBONES, name, "backbone")
        BACKBONES[name] = BackboneEntry(name, builder, family, tuple(mean), tuple(std), description)
        return builder

    return decorator


def register_module(name: str, *, backbones=None, description: str = "", paper: str = "", imagenet: bool = True):
    def decorator(builder):
        _check_new(MODULES, name, "module")
        MODULES[name] = ModuleEntry(name, builder, tuple(backbones) if backbones else None, description, paper,
                                    imagenet)
        return builder

    return decorator


def register_architecture(name: str, *, description: str = "", paper: str = "", mean=None, std=None,
                          default_frames=(8, 16, 32, 64)):
    def decorator(builder):
        _check_new(ARCHITECTURES, name, "architecture")
        extra = {}
        if mean is not None:
            extra["mean"] = tuple(mean)
        if std is not None:
            extra["std"] = tuple(std)
        ARCHITECTURES[name] = ArchitectureEntry(name, builder, description, paper,
                                                default_frames=tuple(default_frames), **extra)
        return builder

    return decorator


_LOADED = False


def load_plugins() -> None:
    """Import every built-in backbone/module/architecture file and the user's plugins.

    ``STBENCH_PLUGINS`` is a comma-separated list of importable modules, for modules kept outside
    this package (e.g. in the user's own repository).
    """
    global _LOADED
    if _LOADED:
        return
    _LOADED = True  # set first: the files imported here may ask for the registry themselves
    try:
        for package in ("backbones", "modules", "architectures"):
            pkg = importlib.import_module(f"benchmark.models.{package}")
            for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{pkg.__name__}.{info.name}")
        for name in filter(None, (p.strip() for p in os.environ.get("STBENCH_PLUGINS", "").split(","))):
            try:
                importlib.import_module(name)
            except ImportError as exc:
                raise ModelError(f"STBENCH_PLUGINS: cannot import {name!r} ({exc})") from exc
            except ValueError as exc:  # a name registered twice
                raise ModelError(f"STBENCH_PLUGINS: {name!r}: {exc}") from exc
    except BaseException:
        _LOADED = False  # a failed load is retried (and fails again, loudly) instead of half-filling
        raise


def list_backbones() -> list[str]:
    load_plugins()
    return list(BACKBONES)


def list_modules() -> list[str]:
    load_plugins()
    return list(MODULES)


def list_architectures() -> list[str]:
    load_plugins()
    return list(ARCHITECTURES)
