"""What a comparison must hold equal, recorded in every ``result.json``: which videos a run saw
(``data``: per split, from the list, not the video bytes) and under which protocol (``protocol``).

A split's fingerprint is the SHA-256 (first 16 hex digits) of its sorted ``video id <TAB> label``
lines, the id being the path relative to the dataset root: it depends neither on where the dataset
lies nor on the list's order. Two copies of "Kinetics-400 val" that lost different videos get
different fingerprints and video counts.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from benchmark.data.dataset_config import DataConfig
from benchmark.data.formats.base import FORMATS
from benchmark.engine.environment import code_version
from benchmark.engine.run_config import RunConfig

DIGITS = 16


def fingerprint(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()[:DIGITS]


def _video_id(path: Path | None, root: Path) -> str:
    if path is None:
        return ""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:  # a list naming absolute paths outside the root
        return path.as_posix()


def class_names(data: DataConfig) -> list[str] | None:
    """The dataset's ``classes`` file, else the one ``stbench data convert`` (``classes.txt``) or
    ``stbench data mini`` (``mini_classes.txt``, beside ``mini_*`` lists) wrote; None without one."""
    if data.classes:
        candidates = [data.classes]
    else:
        candidates = (["mini_classes.txt"] if Path(data.train_list).name.startswith("mini_") else []) + ["classes.txt"]
    for name in candidates:
        try:
            text = data.path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        return [line.strip() for line in text.splitlines() if line.strip()]
    return None


def split_identity(data: DataConfig, split: str, skipped: int | None = None) -> dict[str, Any]:
    """``videos`` (usable list entries), ``fingerprint``, ``malformed`` (list lines that name no
    usable video) and ``skipped`` (videos the run could not read, where it counted them)."""
    entries = FORMATS.get(data.format, f"dataset {data.name}: format").read_entries(data, split)
    root = data.path("")
    good = [e for e in entries if not e.error]
    return {
        "videos": len(good),
        "fingerprint": fingerprint([f"{_video_id(e.path, root)}\t{e.label}" for e in good]),
        "malformed": len(entries) - len(good),
        "skipped": skipped,
    }


def data_identity(data: DataConfig, splits: dict[str, int | None]) -> dict[str, Any]:
    """Per split used (name -> videos skipped, if counted), and the class list's fingerprint."""
    names = class_names(data)
    return {
        "dataset": data.name,
        "num_classes": data.num_classes,
        "classes_fingerprint": fingerprint([f"{i}\t{n}" for i, n in enumerate(names)]) if names else None,
        **{split: split_identity(data, split, skipped) for split, skipped in splits.items()},
    }


def pretraining_source(cfg: RunConfig, weights: dict | None) -> str:
    if weights:
        return f"{weights['source']}:{weights['source_file']}"
    if cfg.init_from:
        return f"run:{Path(cfg.init_from).name}"
    return str(cfg.pretrained or "scratch")


def protocol_identity(cfg: RunConfig, data: DataConfig, frames: int, weights: dict | None) -> dict[str, Any]:
    """The settings two runs must share for their accuracies to be compared, with its fingerprint."""
    record = {
        "frames": frames,
        "sampling": data.sampling,
        "test_views": f"{cfg.eval.clips}x{cfg.eval.crops}",
        "average": cfg.eval.average,
        "crop": data.crop,
        "resize": data.resize,
        "pretraining": pretraining_source(cfg, weights),
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "lr": cfg.optim.lr,
        "schedule": cfg.schedule.name,
        "amp": cfg.amp,
        "code": code_version().get("package"),
    }
    record["fingerprint"] = fingerprint([f"{k}={v}" for k, v in record.items() if k != "code"])
    return record
