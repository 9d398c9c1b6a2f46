"""What two cells of a comparison hold equal: the validation and training videos (the lists'
fingerprints), the class list, and the protocol (result.json's ``data`` and ``protocol``, written by
benchmark.engine.identity). A verdict is given only where they match, or where the user allowed a
named difference on purpose (``compare --allow``)."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from benchmark.engine.tolerant_read import read_json_checked

DIMENSIONS = ("val", "train", "classes", "protocol")
ALIASES = {"data": ("val", "train", "classes")}
# one field of the protocol record, allowed alone (``--allow views``)
PROTOCOL_FIELDS = {"views": "test_views", "test_views": "test_views", "sampling": "sampling", "average": "average",
                   "crop": "crop", "resize": "resize", "pretraining": "pretraining", "epochs": "epochs",
                   "batch": "batch_size", "batch_size": "batch_size", "lr": "lr", "schedule": "schedule", "amp": "amp"}
FINGERPRINTS = {"val": "val_fingerprint", "train": "train_fingerprint", "classes": "classes_fingerprint",
                "protocol": "protocol_fingerprint"}
LABELS = {"val": "val sets", "train": "training sets", "classes": "class lists", "protocol": "protocols"}


def allowed_dimensions(text: str | None) -> set[str]:
    """``--allow val,protocol`` (``data`` = val, train and classes); an unknown name is one line."""
    from benchmark.errors import ConfigError

    out: set[str] = set()
    for name in filter(None, (t.strip() for t in (text or "").split(","))):
        if name in PROTOCOL_FIELDS:
            out.add(f"protocol.{PROTOCOL_FIELDS[name]}")
        elif name in DIMENSIONS or name in ALIASES:
            out.update(ALIASES.get(name, (name,)))
        else:
            choices = DIMENSIONS + tuple(ALIASES) + tuple(sorted(set(PROTOCOL_FIELDS) - {"test_views", "batch_size"}))
            raise ConfigError(f"--allow: unknown dimension {name!r} (choices: {', '.join(choices)})")
    return out


def blocking(differ: dict[str, str], allow: set[str], runs_a: list[str], runs_b: list[str]) -> dict[str, str]:
    """The differences ``allow`` does not cover: a dimension named whole, or a protocol whose every
    differing field is named (``--allow views``)."""
    out = {d: t for d, t in differ.items() if d not in allow}
    if "protocol" in out and any(a.startswith("protocol.") for a in allow):
        fields = protocol_fields_differing(runs_a, runs_b)
        if fields and all(f"protocol.{f}" in allow for f in fields):
            del out["protocol"]
    return out


def protocol_fields_differing(runs_a: list[str], runs_b: list[str]) -> list[str] | None:
    return _fields_differing(_protocol(runs_a), _protocol(runs_b))


def _fields_differing(pa: dict | None, pb: dict | None) -> list[str] | None:
    if pa is None or pb is None:
        return None
    return [k for k in pa if k not in ("fingerprint", "code") and pa.get(k) != pb.get(k)]


def cell_identity(rows: pd.DataFrame) -> dict:
    """The fingerprints a cell's runs share (a tuple of the distinct ones; empty when not recorded)."""
    out = {}
    for dim, column in FINGERPRINTS.items():
        values = rows[column].dropna().unique().tolist() if column in rows else []
        missing = column not in rows or rows[column].isna().any()
        out[dim] = tuple(sorted(values)) + (("unknown",) if missing else ())
    out["val_videos"] = tuple(sorted(rows["val_videos"].dropna().unique().tolist())) if "val_videos" in rows else ()
    return out


def differences(a: dict, b: dict, runs_a: list[str], runs_b: list[str]) -> dict[str, str]:
    """Dimension -> what differs, for every dimension not shown to match."""
    out = {}
    for dim in DIMENSIONS:
        fa, fb = a[dim], b[dim]
        if fa == fb and len(fa) == 1 and fa[0] != "unknown":
            continue
        if "unknown" in fa or "unknown" in fb:
            out[dim] = f"{LABELS[dim]} unknown (a result.json older than its data and protocol records)"
        elif len(fa) > 1 or len(fb) > 1:
            out[dim] = f"{LABELS[dim]} differ between the seeds of one side"
        elif dim == "val":
            out[dim] = _val_difference(a, b, runs_a, runs_b)
        elif dim == "protocol":
            out[dim] = _protocol_difference(runs_a, runs_b)
        else:
            out[dim] = f"{LABELS[dim]} differ"
    return out


def _val_difference(a: dict, b: dict, runs_a: list[str], runs_b: list[str]) -> str:
    na, nb = (a["val_videos"][0] if a["val_videos"] else "?"), (b["val_videos"][0] if b["val_videos"] else "?")
    text = f"val sets differ: {na:,} vs {nb:,} videos" if isinstance(na, int) and isinstance(nb, int) \
        else f"val sets differ: {na} vs {nb} videos"
    va, vb = _videos(runs_a), _videos(runs_b)
    if va is not None and vb is not None:
        text += f", {len(va - vb):,} only in A, {len(vb - va):,} only in B"
    return text


def _videos(runs: list[str]) -> set[str] | None:
    """The evaluated videos of a cell's first run with predictions (predictions.csv's ``video``)."""
    for run in runs:
        path = Path(run) / "predictions.csv"
        try:
            with open(path, newline="", encoding="utf-8") as f:
                return {row["video"] for row in csv.DictReader(f) if row.get("video")}
        except (OSError, UnicodeDecodeError, KeyError, csv.Error):
            continue
    return None


def _protocol_difference(runs_a: list[str], runs_b: list[str]) -> str:
    pa, pb = _protocol(runs_a), _protocol(runs_b)
    fields = _fields_differing(pa, pb)
    if fields is None:
        return "protocols differ"
    return "protocols differ: " + ", ".join(f"{k} {pa.get(k)} vs {pb.get(k)}" for k in fields)


def _protocol(runs: list[str]) -> dict | None:
    for run in runs:
        data, _ = read_json_checked(Path(run) / "result.json")
        if isinstance(data, dict) and isinstance(data.get("protocol"), dict):
            return data["protocol"]
    return None
