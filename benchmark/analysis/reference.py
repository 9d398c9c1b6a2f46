"""Published reference results shipped as package data (``benchmark/resources/reference/``).

The official mini-grid table (``ibm_benchmark_mini.md``, from github.com/IBM/action-recognition-pytorch)
is parsed into ``paper_mini_grid.csv`` so the paper's tables and figures can be regenerated without
training. The table appears twice in the upstream file (the second copy spells ``-tp`` as ``-ts``);
the copies are merged and must agree, otherwise the conversion stops.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from benchmark.errors import DataError
from benchmark.package_data import resource_dir

# Shipped in the package (benchmark/resources/reference); STBENCH_REFERENCE_DIR points elsewhere.
REFERENCE_DIR = Path(os.environ.get("STBENCH_REFERENCE_DIR") or resource_dir("reference"))
MINI_GRID_MD = "ibm_benchmark_mini.md"
MINI_GRID_CSV = "paper_mini_grid.csv"

DATASET_PREFIXES = {"mini_st2stv2": "mini-ssv2", "mini_kinetics400": "mini-kinetics", "mini_moments": "mini-mit"}
BACKBONES = {"inception-v1": "InceptionV1", "resnet-18": "ResNet18", "resnet-50": "ResNet50"}
MINI_GRID_COLUMNS = [
    "dataset", "model", "module", "backbone", "tp", "frames", "top1", "top5", "flops", "params",
    "epochs", "batch_size", "schedule", "syncbn", "official_name", "source",
]

# {dataset}-[TAM-b3-sum-|i3d-|s3d-][backbone][-tp[-max]]-f{frames}-{schedule}[-syncbn]-bs{batch}-e{epochs}[*];
# a bare i3d/s3d is the InceptionV1 version, a bare backbone is TSN. A trailing "*" marks a run stopped
# before its planned epochs (the Epochs column then holds the epochs actually trained).
_NAME = re.compile(
    r"^(?P<dataset>mini_st2stv2|mini_kinetics400|mini_moments)"
    r"(?:-(?P<module>TAM-b3-sum|i3d|s3d))?"
    r"(?:-(?P<backbone>inception-v1|resnet-18|resnet-50))?"
    r"(?P<tp>-t[ps](?:-max)?)?"
    r"-f(?P<frames>\d+)-(?P<schedule>cosine|multisteps)(?P<syncbn>-syncbn)?-bs(?P<bs>\d+)-e(?P<epochs>\d+)"
    r"(?P<stopped>\*)?$"
)
_MODULES = {None: "TSN", "TAM-b3-sum": "TAM", "i3d": "I3D", "s3d": "S3D"}


def canonical_model_name(module: str, backbone: str, tp: bool, frames: int) -> str:
    """stbench's model naming: ``{module}-{backbone}[-tp]-f{frames}``."""
    return f"{module}-{backbone}{'-tp' if tp else ''}-f{frames}"


def parse_official_name(name: str, where: str = "") -> dict:
    """Split an official run name into the grid's factors; raises DataError naming ``where``."""
    m = _NAME.match(name)
    if m is None or (m["module"] is None and m["backbone"] is None):
        raise DataError(f"{where or 'reference'}: cannot parse run name {name!r}")
    module = _MODULES[m["module"]]
    backbone = BACKBONES[m["backbone"] or "inception-v1"]
    tp = m["tp"] is not None
    frames = int(m["frames"])
    return {
        "dataset": DATASET_PREFIXES[m["dataset"]],
        "model": canonical_model_name(module, backbone, tp, frames),
        "module": module,
        "backbone": backbone,
        "tp": tp,
        "frames": frames,
        "epochs": int(m["epochs"]),
        "batch_size": int(m["bs"]),
        "schedule": m["schedule"],
        "syncbn": m["syncbn"] is not None,
        "stopped_early": m["stopped"] is not None,
    }


def _number(text: str, where: str, kind: type):
    try:
        return kind(text.replace(",", ""))
    except ValueError:
        raise DataError(f"{where}: expected a number, got {text!r}") from None


def parse_mini_grid_markdown(path: str | Path) -> pd.DataFrame:
    """Parse the official mini-grid Markdown table into one row per unique run (288 expected)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    rows: dict[tuple, dict] = {}
    for lineno, line in enumerate(lines, 1):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or not cells[0].startswith("mini_"):
            continue
        where = f"{path}:{lineno}"
        if len(cells) < 6:
            raise DataError(f"{where}: expected 6 columns (name, top-1, top-5, flops, params, epochs), got {len(cells)}")
        row = parse_official_name(cells[0], where)
        row.update(
            top1=_number(cells[1], where, float),
            top5=_number(cells[2], where, float),
            flops=_number(cells[3], where, int),
            params=_number(cells[4], where, int),
        )
        epochs = _number(cells[5], where, int)
        if epochs != row["epochs"] and not row["stopped_early"]:
            raise DataError(f"{where}: epochs column {cells[5]} disagrees with the name {cells[0]!r}")
        row["epochs"] = epochs
        row["official_name"] = re.sub(r"-ts(?=-max|-f)", "-tp", cells[0].rstrip("*"))
        row["source"] = f"{path.name}:{lineno}"
        key = (row["dataset"], row["model"])
        if key in rows:
            first = rows[key]
            diffs = [k for k in ("top1", "top5", "flops", "params", "epochs", "batch_size", "schedule", "syncbn")
                     if first[k] != row[k]]
            if diffs:
                raise DataError(f"{where}: {cells[0]} disagrees with {first['source']} on {', '.join(diffs)}")
            continue
        rows[key] = row
    if not rows:
        raise DataError(f"{path}: no run rows found")
    return pd.DataFrame(list(rows.values()), columns=MINI_GRID_COLUMNS)


def load_mini_grid(reference_dir: str | Path | None = None) -> pd.DataFrame:
    """The shipped 288-run reference grid (``paper_mini_grid.csv``)."""
    path = Path(reference_dir or REFERENCE_DIR) / MINI_GRID_CSV
    if not path.exists():
        raise DataError(f"{path}: reference results not found (regenerate with scripts/convert_reference.py)")
    return pd.read_csv(path)


def write_mini_grid_csv(reference_dir: str | Path | None = None) -> Path:
    """Regenerate ``paper_mini_grid.csv`` from the shipped Markdown."""
    ref = Path(reference_dir or REFERENCE_DIR)
    table = parse_mini_grid_markdown(ref / MINI_GRID_MD)
    out = ref / MINI_GRID_CSV
    table = table.sort_values(["dataset", "module", "backbone", "tp", "frames"])
    for col in ("tp", "syncbn"):  # lower-case booleans, as in YAML; pandas reads them back as bool
        table[col] = table[col].map({True: "true", False: "false"})
    table.to_csv(out, index=False)
    return out

