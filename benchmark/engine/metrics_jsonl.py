"""``metrics.jsonl``: one JSON line per finished epoch, appended whole (a kill leaves no fragment
that parses as a line) and read tolerantly (a torn or damaged line is skipped and named)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from benchmark.engine.atomic_io import dumps, loads, write_bytes_atomic, write_error
from benchmark.engine.run_layout import METRICS
from benchmark.engine.schema import validate_metrics_line


def epoch_of(value: Any) -> int | None:
    """``value`` as an epoch count (an int, not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def append_metrics(run_dir: str | Path, line: dict) -> None:
    """Append one epoch's line; the whole line goes in one write so a crash leaves no fragment."""
    validate_metrics_line(line)
    path = Path(run_dir) / METRICS
    try:
        with open(path, "a") as fh:
            fh.write(dumps(line) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise write_error(path, exc) from exc


def read_metrics_checked(run_dir: str | Path) -> tuple[list[dict], list[str]]:
    """Every complete line of ``metrics.jsonl`` (each a JSON object), and what was skipped, named.

    A last line without its newline is torn (a kill mid-append) even if it parses: the trainer
    writes each line with its newline in one write."""
    path = Path(run_dir) / METRICS
    if not os.path.lexists(path):
        return [], []
    if path.is_dir():
        return [], [f"{METRICS}: is a directory, not a file"]
    try:
        raw = path.read_bytes().split(b"\n")
    except OSError as exc:
        return [], [f"{METRICS}: cannot read ({exc.strerror or exc})"]
    out, bad = [], []
    last = max((i for i, line in enumerate(raw) if line.strip()), default=-1)
    for i, line in enumerate(raw):
        if not line.strip():
            continue
        try:
            value = loads(line.decode("utf-8"))
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            value = None
        if isinstance(value, dict) and not (i == last and raw[-1].strip()):
            out.append(value)
        else:  # unreadable, or the last line without its newline: torn by a kill while appending
            bad.append(i + 1)
    problems = [f"{METRICS}: {len(bad)} unreadable or torn line(s) skipped (line "
                f"{', '.join(map(str, bad[:5]))})"] if bad else []
    return out, problems


def read_metrics(run_dir: str | Path) -> list[dict]:
    """Every complete line of ``metrics.jsonl`` (a torn last line and damaged lines are skipped)."""
    return read_metrics_checked(run_dir)[0]


def truncate_metrics(run_dir: str | Path, epochs: int) -> None:
    """Keep the lines of epochs ``<= epochs``: a resumed run rewrites the epochs after its checkpoint.

    Damaged lines go too: the file is rewritten from the lines that can be read."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return
    kept = [m for m in read_metrics(run_dir) if epoch_of(m.get("epoch")) is not None and m["epoch"] <= epochs]
    write_bytes_atomic(path, "".join(dumps(m) + "\n" for m in kept).encode())
