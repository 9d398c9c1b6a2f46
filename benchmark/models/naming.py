"""Canonical model names: ``{module}-{backbone}[-tp]-f{frames}`` or ``{architecture}[-tp]-f{frames}``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from benchmark.errors import ModelError
from benchmark.models.registry import ARCHITECTURES, BACKBONES, MODULES, load_plugins, supported_backbones

_SUFFIX = re.compile(r"^(?P<stem>.+?)(?P<tp>-tp)?-f(?P<frames>\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class ModelSpec:
    """What a model name means. ``backbone`` is None for a complete architecture."""

    module: str
    backbone: str | None
    tp: bool
    frames: int

    @property
    def name(self) -> str:
        parts = [self.module] + ([self.backbone] if self.backbone else [])
        if self.tp:
            parts.append("tp")
        return "-".join(parts) + f"-f{self.frames}"

    @property
    def is_architecture(self) -> bool:
        return self.backbone is None


def _lookup(name: str, table) -> str | None:
    for key in table:
        if key.lower() == name.lower():
            return key
    return None


def _valid_names() -> str:
    return (
        f"modules: {', '.join(MODULES)}; backbones: {', '.join(BACKBONES)}; "
        f"architectures: {', '.join(ARCHITECTURES) or '-'}"
    )


def split_model_name(name: str) -> ModelSpec | None:
    """The parts of ``name`` by the naming rule alone, unvalidated (``{stem}[-tp]-f{frames}``, the
    stem's last ``-`` separating module and backbone), or None if it does not follow the rule.
    For readers of names whose module is not registered in this shell (old results, plugins)."""
    match = _SUFFIX.match(name.strip())
    if not match:
        return None
    module, _, backbone = match["stem"].rpartition("-")
    return ModelSpec(module or match["stem"], backbone if module else None, bool(match["tp"]), int(match["frames"]))


def parse_model_name(name: str) -> ModelSpec:
    """Parse (case-insensitively) and validate a model name; unknown parts list the valid ones."""
    load_plugins()
    match = _SUFFIX.match(name.strip())
    if not match:
        raise ModelError(
            f"invalid model name {name!r}: expected '{{module}}-{{backbone}}[-tp]-f{{frames}}' "
            f"such as 'TAM-ResNet50-f16' ({_valid_names()})"
        )
    stem, tp, frames = match["stem"], bool(match["tp"]), int(match["frames"])
    if frames < 1:
        raise ModelError(f"invalid model name {name!r}: frames must be positive")
    arch = _lookup(stem, ARCHITECTURES)
    if arch:
        return ModelSpec(arch, None, tp, frames)
    if "-" not in stem:
        raise ModelError(f"invalid model name {name!r}: no backbone given ({_valid_names()})")
    module_part, backbone_part = stem.rsplit("-", 1)
    module = _lookup(module_part, MODULES)
    backbone = _lookup(backbone_part, BACKBONES)
    if module is None:
        raise ModelError(f"unknown module {module_part!r} in {name!r} (valid {_valid_names()})")
    if backbone is None:
        raise ModelError(f"unknown backbone {backbone_part!r} in {name!r} (valid {_valid_names()})")
    if not MODULES[module].supports(BACKBONES[backbone]):
        raise ModelError(
            f"module {module} does not support backbone {backbone} in {name!r} "
            f"(supported: {', '.join(supported_backbones(module)) or '-'})"
        )
    return ModelSpec(module, backbone, tp, frames)


def model_name(module: str, backbone: str | None, tp: bool, frames: int) -> str:
    """The canonical name of a (module, backbone, tp, frames) cell; validated."""
    return parse_model_name(ModelSpec(module, backbone, tp, frames).name).name
