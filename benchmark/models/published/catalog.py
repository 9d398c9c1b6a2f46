"""The released checkpoints of the official codebases (``resources/reference/published_checkpoints.csv``,
from their READMEs): where to get each, which stbench model it imports as, and the accuracy its
authors printed with the protocol they printed it for."""

from __future__ import annotations

import csv

from benchmark.errors import ModelError
from benchmark.package_data import resource_dir

INTS = ("num_classes", "clips", "crops", "crop_size")
FLOATS = ("top1", "top5")


def published_checkpoints() -> list[dict]:
    with open(resource_dir("reference") / "published_checkpoints.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key in INTS:
            row[key] = int(row[key])
        for key in FLOATS:
            row[key] = float(row[key]) if row[key] else None
        row["sha256"] = row["sha256"] or None
    return rows


def find_checkpoint(name: str) -> dict:
    rows = published_checkpoints()
    for row in rows:
        if row["name"] == name:
            return row
    raise ModelError(f"unknown published checkpoint {name!r} (stbench weights list shows the {len(rows)} names)")
