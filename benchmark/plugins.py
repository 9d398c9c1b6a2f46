"""Registries: every kind of extension (temporal module, backbone, architecture, dataset format,
executor, ...) is a named entry added by a decorator in its own file.

A registry fills itself on first use: it imports every public file of its built-in packages, then
the user's plugins (``STBENCH_PLUGINS``: comma-separated importable modules, e.g. files in the
user's own repository on ``PYTHONPATH``). Nothing else in stbench lists extensions by name, so a
new one is one file.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Iterator
from typing import Generic, TypeVar

from benchmark.errors import StbenchError

T = TypeVar("T")

PLUGINS_VARIABLE = "STBENCH_PLUGINS"

_loading = False
_loaded_plugins: tuple[str, ...] = ()


def plugin_names() -> tuple[str, ...]:
    return tuple(filter(None, (p.strip() for p in os.environ.get(PLUGINS_VARIABLE, "").split(","))))


def load_user_plugins() -> None:
    """Import the modules named in ``STBENCH_PLUGINS`` (once per value of the variable)."""
    global _loading, _loaded_plugins
    names = plugin_names()
    if _loading or names == _loaded_plugins:
        return
    _loading = True  # the plugins import registries, which call back here
    try:
        for name in names:
            try:
                importlib.import_module(name)
            except ImportError as exc:
                raise StbenchError(f"{PLUGINS_VARIABLE}: cannot import {name!r} ({exc})") from exc
            except ValueError as exc:  # a name registered twice
                raise StbenchError(f"{PLUGINS_VARIABLE}: {name!r}: {exc}") from exc
        _loaded_plugins = names
    finally:
        _loading = False


def import_package_files(package: str) -> None:
    """Import every file of ``package`` whose name does not start with ``_``."""
    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


class Registry(Generic[T]):
    """Named entries of one kind of extension; mapping-like (``reg[name]``, ``name in reg``, ``list(reg)``).

    Every read first loads the built-in ``packages`` and the user's plugins, so a plugin's entry is
    visible wherever a name is looked up. An unknown name is an error listing the valid ones.
    """

    def __init__(self, kind: str, packages: tuple[str, ...] = (), error: type[StbenchError] = StbenchError):
        self.kind = kind
        self.packages = packages
        self.error = error
        self._entries: dict[str, T] = {}
        self._loaded = False

    def load(self) -> None:
        if not self._loaded:
            self._loaded = True  # first: the files imported here register into this registry
            try:
                for package in self.packages:
                    import_package_files(package)
            except BaseException:
                self._loaded = False  # a failed load is retried (and fails again, loudly)
                raise
        load_user_plugins()

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` under ``name``; a name taken (in any letter case) is an error."""
        if any(name.lower() == k.lower() for k in self._entries):
            raise ValueError(f"{self.kind} name {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> None:
        self._entries.pop(name, None)

    def get(self, name: str, where: str = "") -> T:
        self.load()
        if name in self._entries:
            return self._entries[name]
        prefix = f"{where}: " if where else ""
        # sorted: the registration order depends on what the process happened to import first
        choices = ", ".join(sorted(self._entries, key=str.lower)) or "none"
        raise self.error(f"{prefix}unknown {self.kind} {name!r} (choices: {choices})")

    def names(self) -> list[str]:
        self.load()
        return list(self._entries)

    def items(self):
        self.load()
        return self._entries.items()

    def values(self):
        self.load()
        return self._entries.values()

    def raw(self) -> dict[str, T]:
        """The entries as registered so far, without loading (for registration-time checks)."""
        return self._entries

    def __getitem__(self, name: str) -> T:
        self.load()
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self.load()
        return len(self._entries)
