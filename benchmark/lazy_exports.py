"""Package-level names that load their module on first use (PEP 562), so that the commands a login
node runs (plan, launch, status, collect) read configs and run directories without importing torch:
a launch then starts its jobs about a second sooner, and ``stbench status`` answers at once."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_getattr(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """``__getattr__`` for ``package``: ``exports`` maps each public name to its submodule."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    return __getattr__
