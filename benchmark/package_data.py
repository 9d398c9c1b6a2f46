"""Files shipped inside the package (``benchmark/resources/``), so an installed wheel finds them.

``reference/`` (published results), ``experiments/`` (the shipped experiment YAMLs, addressable by
name: ``stbench plan paper_mini_grid``), ``cluster_profiles/`` (SLURM profiles), ``classes/`` (the
mini datasets' class lists). User files always win: a path that exists is used as given.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from benchmark.errors import ConfigError

YAML_SUFFIXES = (".yaml", ".yml")


def resource_dir(*parts: str) -> Path:
    """A folder of ``benchmark/resources`` as a real path (the package is installed unzipped)."""
    return Path(str(resources.files("benchmark").joinpath("resources", *parts)))


def shipped_names(kind: str) -> list[str]:
    """Names (file stems) of the YAML files shipped in ``resources/<kind>``."""
    folder = resource_dir(kind)
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def find_yaml(name_or_path: str | Path, kind: str, search: tuple[Path, ...] = ()) -> Path:
    """An existing YAML path as given, else ``<dir>/<name>.yaml`` in ``search`` then the shipped ``kind``.

    An unknown name is a :class:`ConfigError` listing the shipped names.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.suffix in YAML_SUFFIXES or len(path.parts) > 1:
        raise ConfigError(f"{path}: no such file")
    for folder in (*search, resource_dir(kind)):
        for suffix in YAML_SUFFIXES:
            candidate = folder / f"{name_or_path}{suffix}"
            if candidate.is_file():
                return candidate
    names = sorted({p.stem for d in search if d.is_dir() for p in d.glob("*.yaml")} | set(shipped_names(kind)))
    label = kind.replace("_", " ").rstrip("s")
    raise ConfigError(f"unknown {label} {str(name_or_path)!r} (available: {', '.join(names) or 'none'}; "
                      "or give a YAML path)")
