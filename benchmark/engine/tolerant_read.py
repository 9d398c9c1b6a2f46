"""Damage-tolerant reads of run-directory files: a missing, half-written, corrupt or unreadable file
is a reason naming it, never an exception, so that no reader (status, collect, repair, resume)
crashes on what a killed writer or a full disk left behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from benchmark.engine.atomic_io import loads
from benchmark.engine.run_layout import CONFIG, PREDICTIONS_HEADER
from benchmark.strict_config import parse_yaml

_ZIP_TAIL = 22 + 65535  # a zip's end-of-directory record lies within this many last bytes


def read_text_checked(path: str | Path) -> tuple[str | None, str | None]:
    """``(text, None)``, or ``(None, why it cannot be read, naming the file)``; missing: ``(None, None)``.

    The one way a run-directory file is read: a directory where a file should be, a permission
    problem or bytes that are not UTF-8 become a reason, never an exception.
    """
    path = Path(path)
    if not os.path.lexists(path):
        return None, None
    if path.is_dir():
        return None, f"{path.name}: is a directory, not a file"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"{path.name}: cannot read ({exc.strerror or exc})"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"{path.name}: not UTF-8 text (byte {exc.start}), damaged"


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def read_json_checked(path: str | Path) -> tuple[Any, str | None]:
    """``(object, None)``, or ``(None, why it could not be read)``; a missing file is ``(None, None)``."""
    text, why = read_text_checked(path)
    if text is None:
        return None, why
    try:
        return loads(text), None
    except (ValueError, RecursionError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not text.strip():
            detail = "empty file"
        return None, f"{Path(path).name}: invalid JSON, probably half-written ({detail})"


def read_json(path: str | Path) -> Any | None:
    """The parsed file, or None if it is missing or unreadable (a reader must not crash)."""
    return read_json_checked(path)[0]


def read_json_object(path: str | Path) -> tuple[dict | None, str | None]:
    """Like :func:`read_json_checked`, and anything but a JSON object is a reason too."""
    data, why = read_json_checked(path)
    if data is not None and not isinstance(data, dict):
        return None, f"{Path(path).name}: not a JSON object (a {_json_type(data)})"
    return data, why


def read_config(run_dir: str | Path) -> tuple[dict, str | None]:
    """``config.yaml`` as a mapping (``{}`` if missing or unreadable) and why it could not be read."""
    text, why = read_text_checked(Path(run_dir) / CONFIG)
    if text is None:
        return {}, why and f"{CONFIG}: unreadable ({why.split(': ', 1)[-1]})"
    try:
        data = parse_yaml(text)
    except (ValueError, RecursionError, yaml.YAMLError) as exc:
        return {}, f"{CONFIG}: unreadable ({(str(exc).splitlines() or [type(exc).__name__])[0]})"
    return (data, None) if isinstance(data, dict) else ({}, f"{CONFIG}: not a mapping")


def torn_text(path: Path) -> str | None:
    """Why a text file the engine always ends with a newline looks cut short; reads only its last
    byte, so a large predictions.csv costs nothing."""
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - 1))
            last = fh.read(1)
    except OSError as exc:
        return f"{path.name}: cannot read ({exc.strerror or exc})"
    return f"{path.name}: no final newline, truncated" if size and last != b"\n" else None


def predictions_problem(path: Path) -> str | None:
    """Why ``predictions.csv`` is damaged (no header, cut short), from its ends only."""
    if not os.path.lexists(path):
        return None
    if path.is_dir():
        return f"{path.name}: is a directory, not a file"
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(PREDICTIONS_HEADER) + 2)
    except OSError as exc:
        return f"{path.name}: cannot read ({exc.strerror or exc})"
    if head.split(b"\n", 1)[0].strip() != PREDICTIONS_HEADER.encode():
        return f"{path.name}: no '{PREDICTIONS_HEADER}' header, damaged"
    return torn_text(path)


def checkpoint_problem(path: str | Path) -> str | None:
    """Why a checkpoint is visibly damaged, from its ends only (torch's zip format: a local header
    first, the end-of-directory record last); a checkpoint damaged inside shows only on loading."""
    path = Path(path)
    if not os.path.lexists(path):
        return None
    if path.is_dir():
        return f"{path.name}: is a directory, not a file"
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(max(0, size - _ZIP_TAIL))
            tail = fh.read()
    except OSError as exc:
        return f"{path.name}: cannot read ({exc.strerror or exc})"
    if size == 0:
        return f"{path.name}: empty file, damaged"
    if head != b"PK\x03\x04":
        return f"{path.name}: not a checkpoint (damaged)"
    if b"PK\x05\x06" not in tail:
        return f"{path.name}: truncated checkpoint (damaged)"
    return None
