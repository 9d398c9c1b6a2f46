"""What is known of the data paper 002 used: the mini datasets' class lists (shipped; the paper does
not print its split sizes), as the fingerprints stbench records for a run's class list."""

from __future__ import annotations

from benchmark.data.prepare import SHIPPED_CLASS_LISTS
from benchmark.engine.identity import fingerprint
from benchmark.package_data import resource_dir


def paper_class_fingerprints() -> dict[str, tuple[str, int]]:
    """Dataset -> (fingerprint of the paper's class list in label order, number of classes)."""
    out = {}
    for dataset, name in SHIPPED_CLASS_LISTS.items():
        names = [n.strip() for n in (resource_dir("classes") / name).read_text(encoding="utf-8").splitlines() if n.strip()]
        out[dataset] = (fingerprint([f"{i}\t{n}" for i, n in enumerate(names)]), len(names))
    return out
