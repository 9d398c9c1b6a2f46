"""Official annotations -> list files (``train.txt``, ``val.txt``, ``classes.txt``).

Frame lists (``--format frames``) need the extracted frames: each video's frame count is the number
of JPEGs in its folder, and a video without frames is left out and reported (not downloaded or
failed extraction is common for Kinetics). Video lists (``--format video``) only need the files.

Folder/file naming (relative to the dataset root):
- Something-Something v2: ``<id>`` (frames) / ``<id>.webm`` (videos); classes are the templates
  without brackets, labels from the labels JSON.
- Kinetics-400: ``<split>/<label>/<youtube_id>_<start:06d>_<end:06d>`` (+ ``.mp4``), the layout of
  the common downloaders; lists use ``;`` as separator since class names contain spaces; labels =
  sorted class names of the training CSV.
- Moments in Time: ``training|validation/<class>/<file>`` (path from the CSV, suffix dropped for
  frames); labels from ``moments_categories.txt`` (``name,id``) or sorted names.
- UCF101: ``<class>/v_<class>_gNN_cNN`` (+ ``.avi``), the paths of ``trainlistNN.txt`` /
  ``testlistNN.txt``; labels = the 1-based ids of ``classInd.txt`` minus 1. The official lists
  spell one class's files ``v_HandStandPushups_*`` while the files are ``v_HandstandPushups_*``:
  a name missing as written is looked up case-insensitively in its folder.
- HMDB51: ``<class>/<video>`` (+ ``.avi``), from the split files ``<class>_test_split<N>.txt``
  (``<video>.avi <id>``: 1 train, 2 test, 0 in neither); labels = sorted class names.
- Jester: ``<id>`` frame folders (the dataset ships only frames, ``00001.jpg`` ...); labels = the
  line order of ``jester-v1-labels.csv``, lists ``<id>;<label text>``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.errors import DataError

KINETICS_TEMPLATE = "{split}/{label}/{youtube_id}_{time_start:06d}_{time_end:06d}"


@dataclass
class ConvertResult:
    counts: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # "split: name (reason)"
    classes: list[str] = field(default_factory=list)


def count_frames(folder: Path, suffix: str = ".jpg") -> int:
    try:
        with os.scandir(folder) as it:
            return sum(1 for e in it if e.name.endswith(suffix))
    except OSError:
        return 0


def _write_split(out: Path, split: str, items: Iterable[tuple[str, int]], root: Path, fmt: str,
                 separator: str, result: ConvertResult) -> None:
    lines = []
    for name, label in items:
        if fmt == "frames":
            n = count_frames(root / name)
            if n == 0:
                result.missing.append(f"{split}: {name} (no frames in {root / name})")
                continue
            lines.append(separator.join([name, "1", str(n), str(label)]))
        else:
            if not (root / name).is_file():
                result.missing.append(f"{split}: {name} (no video file {root / name})")
                continue
            lines.append(separator.join([name, str(label)]))
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{split}.txt").write_text("".join(line + "\n" for line in lines))
    result.counts[split] = len(lines)


def _write_classes(out: Path, classes: list[str], result: ConvertResult) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "classes.txt").write_text("".join(c + "\n" for c in classes))
    result.classes = classes


def _load_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc


def convert_ssv2(labels_json: Path, train_json: Path, val_json: Path, root: Path, out: Path,
                 fmt: str = "frames") -> ConvertResult:
    """Something-Something v2: ``labels.json`` ({template: id}) + ``train.json``/``validation.json``."""
    labels = _load_json(labels_json)
    if not isinstance(labels, dict):
        raise DataError(f"{labels_json}: expected a mapping of class template -> id")
    try:
        label_of = {name: int(i) for name, i in labels.items()}
    except (TypeError, ValueError) as exc:
        raise DataError(f"{labels_json}: class ids must be integers ({exc})") from exc
    result = ConvertResult()
    for split, path in (("train", train_json), ("val", val_json)):
        records = _load_json(path)
        if not isinstance(records, list):
            raise DataError(f"{path}: expected a list of videos")
        items = []
        for k, rec in enumerate(records):
            try:
                vid, template = str(rec["id"]), rec["template"]
            except (KeyError, TypeError) as exc:
                raise DataError(f"{path}: video #{k}: missing 'id' or 'template'") from exc
            name = template.replace("[", "").replace("]", "")
            if name not in label_of:
                raise DataError(f"{path}: video {vid}: template {name!r} not in {labels_json}")
            items.append((vid if fmt == "frames" else f"{vid}.webm", label_of[name]))
        _write_split(out, split, items, root, fmt, " ", result)
    _write_classes(out, [n for n, _ in sorted(label_of.items(), key=lambda kv: kv[1])], result)
    return result


def _read_csv(path: Path, header: bool) -> list[tuple[int, list[str]]]:
    try:
        with open(path, newline="") as f:
            rows = [(i + 1, row) for i, row in enumerate(csv.reader(f)) if row]
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return rows[1:] if header else rows


def convert_kinetics(train_csv: Path, val_csv: Path, root: Path, out: Path, fmt: str = "frames",
                     template: str = KINETICS_TEMPLATE) -> ConvertResult:
    """Kinetics-400 CSVs (``label,youtube_id,time_start,time_end,split[,is_cc]``)."""
    parsed = {}
    for split, path in (("train", train_csv), ("val", val_csv)):
        rows = _read_csv(path, header=False)
        if not rows or rows[0][1][:2] != ["label", "youtube_id"]:
            raise DataError(f"{path}:1: expected the Kinetics header 'label,youtube_id,time_start,time_end,split'")
        items = []
        for line, row in rows[1:]:
            if len(row) < 5:
                raise DataError(f"{path}:{line}: expected at least 5 fields, got {len(row)}")
            try:
                start, end = int(float(row[2])), int(float(row[3]))
            except ValueError as exc:
                raise DataError(f"{path}:{line}: time_start/time_end must be numbers, got {row[2]!r}, {row[3]!r}") from exc
            items.append((row[0], template.format(split=row[4], label=row[0], youtube_id=row[1],
                                                  time_start=start, time_end=end), line))
        parsed[split] = items
    classes = sorted({label for label, _, _ in parsed["train"]})
    label_of = {c: i for i, c in enumerate(classes)}
    result = ConvertResult()
    for split, items in parsed.items():
        unknown = [(c, line) for c, _, line in items if c not in label_of]
        if unknown:
            raise DataError(f"{val_csv}:{unknown[0][1]}: class {unknown[0][0]!r} does not occur in {train_csv}")
        suffix = "" if fmt == "frames" else ".mp4"
        _write_split(out, split, [(name + suffix, label_of[c]) for c, name, _ in items], root, fmt, ";", result)
    _write_classes(out, classes, result)
    return result


def convert_mit(train_csv: Path, val_csv: Path, root: Path, out: Path, fmt: str = "frames",
                categories: Path | None = None) -> ConvertResult:
    """Moments in Time ``trainingSet.csv``/``validationSet.csv`` (``<class>/<file>,<class>,...``)."""
    parsed = {}
    for split, path, folder in (("train", train_csv, "training"), ("val", val_csv, "validation")):
        items = []
        for line, row in _read_csv(path, header=False):
            if len(row) < 2:
                raise DataError(f"{path}:{line}: expected '<class>/<file>,<class>,...', got {','.join(row)!r}")
            name = f"{folder}/{row[0]}"
            items.append((row[1], os.path.splitext(name)[0] if fmt == "frames" else name, line))
        parsed[split] = items
    if categories is not None:
        label_of = {}
        for line, row in _read_csv(categories, header=False):
            try:
                label_of[row[0]] = int(row[1])
            except (IndexError, ValueError) as exc:
                raise DataError(f"{categories}:{line}: expected '<class>,<id>'") from exc
    else:
        label_of = {c: i for i, c in enumerate(sorted({c for c, _, _ in parsed["train"]}))}
    result = ConvertResult()
    for split, items in parsed.items():
        for c, _, line in items:
            if c not in label_of:
                where = "the categories file" if categories is not None else "the training set"
                raise DataError(f"{train_csv if split == 'train' else val_csv}:{line}: class {c!r} is not in {where}")
        _write_split(out, split, [(name, label_of[c]) for c, name, _ in items], root, fmt, " ", result)
    _write_classes(out, [c for c, _ in sorted(label_of.items(), key=lambda kv: kv[1])], result)
    return result


def _text_lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines, stripped (the official UCF101 lists end lines with CRLF), with line numbers."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return [(i + 1, line.strip()) for i, line in enumerate(text.splitlines()) if line.strip()]


def _case_fixed(root: Path, names: list[tuple[str, int]], fmt: str) -> list[tuple[str, int]]:
    """Each name as it exists on disk: a name missing as written is matched case-insensitively
    among its folder's entries (one listing per folder); a name found neither way is kept."""
    listings: dict[str, dict[str, str]] = {}
    out = []
    for name, label in names:
        path = root / name
        if (path.is_dir() if fmt == "frames" else path.is_file()):
            out.append((name, label))
            continue
        folder, _, base = name.rpartition("/")
        if folder not in listings:
            try:
                listings[folder] = {e.name.lower(): e.name for e in os.scandir(root / folder)}
            except OSError:
                listings[folder] = {}
        actual = listings[folder].get(base.lower())
        out.append(((f"{folder}/{actual}" if folder else actual) if actual else name, label))
    return out


def _class_index(path: Path) -> list[str]:
    """UCF101 ``classInd.txt``: ``<id> <name>`` with ids 1..N, one per class, in any line order."""
    by_id: dict[int, str] = {}
    for line, text in _text_lines(path):
        fields = text.split()
        if len(fields) != 2 or not fields[0].isdigit():
            raise DataError(f"{path}:{line}: expected '<class id> <class name>', got {text!r}")
        if int(fields[0]) in by_id or fields[1] in by_id.values():
            raise DataError(f"{path}:{line}: class id {fields[0]} or name {fields[1]!r} given twice")
        by_id[int(fields[0])] = fields[1]
    if not by_id:
        raise DataError(f"{path}: no classes ('<class id> <class name>' lines)")
    if sorted(by_id) != list(range(1, len(by_id) + 1)):
        raise DataError(f"{path}: class ids must be 1..N (1-based, no gaps), got {len(by_id)} ids "
                        f"from {min(by_id)} to {max(by_id)}")
    return [by_id[i] for i in range(1, len(by_id) + 1)]


def _ucf101_split(path: Path, label_of: dict[str, int], class_index: Path, fmt: str) -> list[tuple[str, int]]:
    items = []
    for line, text in _text_lines(path):
        fields = text.split()
        folder = fields[0].split("/")[0] if "/" in fields[0] else None
        if len(fields) > 2 or folder is None:
            raise DataError(f"{path}:{line}: expected '<class>/<video>.avi [<class id>]', got {text!r}")
        if folder not in label_of:
            raise DataError(f"{path}:{line}: class folder {folder!r} is not in {class_index}")
        label = label_of[folder]
        if len(fields) == 2 and fields[1] != str(label + 1):
            raise DataError(f"{path}:{line}: class id {fields[1]} disagrees with the folder {folder!r} "
                            f"(id {label + 1} in {class_index})")
        items.append((os.path.splitext(fields[0])[0] if fmt == "frames" else fields[0], label))
    return items


def convert_ucf101(train_list: Path, val_list: Path, class_index: Path, root: Path, out: Path,
                   fmt: str = "frames") -> ConvertResult:
    """UCF101 ``trainlistNN.txt`` (``<class>/<video>.avi <id>``) and ``testlistNN.txt``
    (``<class>/<video>.avi``, the label from the folder), ``classInd.txt`` ids renumbered from 0."""
    classes = _class_index(class_index)
    label_of = {c: i for i, c in enumerate(classes)}
    result = ConvertResult()
    for split, path in (("train", train_list), ("val", val_list)):
        items = _ucf101_split(path, label_of, class_index, fmt)
        _write_split(out, split, _case_fixed(root, items, fmt), root, fmt, " ", result)
    _write_classes(out, classes, result)
    return result


def hmdb51_split_files(splits: Path, split: int) -> dict[str, Path]:
    """Class name -> its ``<class>_test_split<N>.txt``, classes in sorted order."""
    suffix = f"_test_split{split}.txt"
    try:
        names = sorted(p.name for p in Path(splits).iterdir())
    except OSError as exc:
        raise DataError(f"{splits}: cannot list the split files ({exc.strerror or exc})") from exc
    files = {n[: -len(suffix)]: Path(splits) / n for n in names if n.endswith(suffix) and len(n) > len(suffix)}
    if not files:
        found = sorted({n.rsplit("_test_split", 1)[1][:-4] for n in names if "_test_split" in n and n.endswith(".txt")})
        raise DataError(f"{splits}: no '<class>{suffix}' files (the official HMDB51 splits); "
                        f"splits found here: {', '.join(found) or 'none'}")
    return {c: files[c] for c in sorted(files)}


def convert_hmdb51(splits: Path, split: int, root: Path, out: Path, fmt: str = "frames") -> ConvertResult:
    """HMDB51 split ``split`` (1-3): each ``<class>_test_split<N>.txt`` line ``<video>.avi <id>``
    puts ``<class>/<video>`` in train (1), val (2) or neither (0); labels = sorted class names."""
    files = hmdb51_split_files(splits, split)
    parts: dict[str, list[tuple[str, int]]] = {"train": [], "val": []}
    for label, (cls, path) in enumerate(files.items()):
        for line, text in _text_lines(path):
            fields = text.split()
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise DataError(f"{path}:{line}: expected '<video>.avi <0|1|2>' (1 train, 2 test, "
                                f"0 unused), got {text!r}")
            if fields[1] != "0":
                name = f"{cls}/{fields[0]}"
                parts["train" if fields[1] == "1" else "val"].append(
                    (os.path.splitext(name)[0] if fmt == "frames" else name, label))
    result = ConvertResult()
    for split_name, items in parts.items():
        _write_split(out, split_name, items, root, fmt, " ", result)
    _write_classes(out, list(files), result)
    return result


def convert_jester(labels_csv: Path, train_csv: Path, val_csv: Path, root: Path, out: Path,
                   fmt: str = "frames") -> ConvertResult:
    """Jester ``jester-v1-labels.csv`` (one class per line, label order) and
    ``jester-v1-train.csv`` / ``-validation.csv`` (``<id>;<label text>``)."""
    if fmt != "frames":
        raise DataError("jester: the dataset is distributed as JPEG frame folders (<id>/00001.jpg ...), "
                        "not videos: use --format frames")
    classes = []
    for line, text in _text_lines(labels_csv):
        if text in classes:
            raise DataError(f"{labels_csv}:{line}: class {text!r} given twice")
        classes.append(text)
    label_of = {c: i for i, c in enumerate(classes)}
    result = ConvertResult()
    for split, path in (("train", train_csv), ("val", val_csv)):
        items = []
        for line, text in _text_lines(path):
            vid, sep, name = (part.strip() for part in text.partition(";"))
            if not sep or not vid or not name:
                raise DataError(f"{path}:{line}: expected '<video id>;<label>', got {text!r}")
            if name not in label_of:
                raise DataError(f"{path}:{line}: label {name!r} is not in {labels_csv}")
            items.append((vid, label_of[name]))
        _write_split(out, split, items, root, fmt, " ", result)
    _write_classes(out, classes, result)
    return result
