"""Reading the list of videos of a split: official list files and class-per-subfolder trees.

Parsing never stops at the first bad line: each line becomes an ``Entry``, and a malformed one
carries its ``error`` (file, line, reason), so ``on_bad_sample: skip`` can drop it at load time and
``stbench data check`` can report every problem at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import DataError

VIDEO_EXTENSIONS = (".mp4", ".webm", ".avi", ".mkv", ".mov", ".m4v")


@dataclass(frozen=True)
class Entry:
    """One video of a split. ``index`` is its position in the list (the per-video key)."""

    index: int
    where: str  # "file:line" for messages
    path: Path | None
    label: int
    start: int = 1  # frame folders: first frame number (official lists are 1-based)
    end: int = 0  # frame folders: last frame number, inclusive
    error: str | None = None  # why this entry is unusable, if it is

    @property
    def num_frames(self) -> int:
        return self.end - self.start + 1


def _split(line: str, separator: str | None) -> list[str]:
    return [f.strip() for f in line.split(separator)] if separator else line.split()


def read_frame_list(list_path: Path, root: Path, num_classes: int, separator: str | None,
                    min_frames: int = 1) -> list[Entry]:
    """Official frame-folder list: ``<folder> <start_frame> <end_frame> <label>`` per line."""
    lines = _read_lines(list_path)
    entries = []
    for i, line in enumerate(lines):
        where = f"{list_path}:{i + 1}"
        fields = _split(line, separator)
        sep = "whitespace" if separator is None else repr(separator)
        if len(fields) != 4:
            entries.append(Entry(i, where, None, -1, error=(
                f"{where}: expected 4 fields '<folder> <start> <end> <label>' separated by {sep}, "
                f"got {len(fields)}: {line.strip()!r}")))
            continue
        folder, start, end, label = fields
        try:
            start_i, end_i = int(start), int(end)
        except ValueError:
            entries.append(Entry(i, where, root / folder, -1, error=(
                f"{where}: frame numbers must be integers, got start={start!r} end={end!r}")))
            continue
        error = _label_error(label, num_classes, where)
        label_i = int(label) if error is None else -1
        if error is None and end_i - start_i + 1 < min_frames:
            error = (f"{where}: {folder} has {end_i - start_i + 1} frames "
                     f"(start {start_i}, end {end_i}), fewer than min_frames={min_frames}")
        entries.append(Entry(i, where, root / folder, label_i, start_i, end_i, error))
    return entries


def read_video_list(list_path: Path, root: Path, num_classes: int, separator: str | None) -> list[Entry]:
    """Video list: ``<path> <label>`` per line (path relative to root)."""
    lines = _read_lines(list_path)
    entries = []
    for i, line in enumerate(lines):
        where = f"{list_path}:{i + 1}"
        fields = _split(line, separator)
        if len(fields) != 2:
            sep = "whitespace" if separator is None else repr(separator)
            entries.append(Entry(i, where, None, -1, error=(
                f"{where}: expected 2 fields '<video> <label>' separated by {sep}, "
                f"got {len(fields)}: {line.strip()!r}")))
            continue
        error = _label_error(fields[1], num_classes, where)
        entries.append(Entry(i, where, root / fields[0], int(fields[1]) if error is None else -1, error=error))
    return entries


def tree_classes(tree: Path) -> list[str]:
    """Class names of a ``<class>/<video>`` tree, sorted (label = position)."""
    if not tree.is_dir():
        raise DataError(f"{tree}: not a directory of class subfolders")
    classes = sorted(p.name for p in tree.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{tree}: no class subfolders found (expected <class>/<video> layout)")
    return classes


def tree_videos(tree: Path, classes: list[str]) -> list[tuple[Path, int]]:
    """(video, label) of a class tree in a stable order (class, then file name)."""
    label_of = {c: i for i, c in enumerate(classes)}
    out = []
    for cls in tree_classes(tree):
        if cls not in label_of:
            raise DataError(f"{tree / cls}: class folder not among the training classes ({len(classes)} known)")
        for video in sorted((tree / cls).iterdir()):
            if video.is_file() and video.suffix.lower() in VIDEO_EXTENSIONS:
                out.append((video, label_of[cls]))
    return out


def read_video_tree(tree: Path, classes: list[str], num_classes: int) -> list[Entry]:
    if len(classes) != num_classes:
        raise DataError(f"{tree}: {len(classes)} class folders but num_classes={num_classes}")
    return [Entry(i, f"{video}", video, label) for i, (video, label) in enumerate(tree_videos(tree, classes))]


def _label_error(label: str, num_classes: int, where: str) -> str | None:
    try:
        value = int(label)
    except ValueError:
        return f"{where}: label must be an integer, got {label!r}"
    if not 0 <= value < num_classes:
        return f"{where}: label {value} outside the class range 0..{num_classes - 1}"
    return None


def _read_lines(list_path: Path) -> list[str]:
    try:
        data = list_path.read_bytes()
    except OSError as exc:
        raise DataError(f"{list_path}: cannot read list file ({exc.strerror or exc})") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DataError(f"{list_path}:{line}: list file is not UTF-8 text (byte {exc.start})") from exc
    lines = text.splitlines()
    # Keep line numbers true to the file: blank lines are errors only in the middle.
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{list_path}: list file is empty")
    return lines
