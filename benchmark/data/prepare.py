"""Preparation tools: frame extraction, mini datasets, list files from class trees."""

from __future__ import annotations

import logging
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import av
import numpy as np

from benchmark.data.encode import write_frames
from benchmark.data.listfile import VIDEO_EXTENSIONS, tree_classes, tree_videos
from benchmark.errors import DataError

log = logging.getLogger(__name__)

SHIPPED_CLASS_LISTS = {"mini-kinetics": "mini_kinetics400_classes.txt", "mini-ssv2": "mini_ssv2_classes.txt"}


# ---------------------------------------------------------------- extract


@dataclass
class ExtractResult:
    done: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "video: reason"
    frames: dict[str, int] = field(default_factory=dict)  # folder -> frame count


DONE_MARKER = ".done"


def extract_one(video: str, folder: str, short_side: int = 256, template: str = "{:05d}.jpg",
                quality: int = 90) -> tuple[str, int, str | None]:
    """Decode ``video`` into ``folder`` (short side resized); (folder, frames, error).

    Frames go to a temporary folder renamed at the end and a marker records completion, so an
    interrupted run never leaves a folder that looks finished.
    """
    dst = Path(folder)
    marker = dst / DONE_MARKER
    if marker.is_file():
        return folder, int(marker.read_text() or 0), None
    tmp = dst.with_name(dst.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    count = 0
    try:
        with av.open(video) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            batch = []
            for frame in container.decode(stream):
                w, h = frame.width, frame.height
                scale = short_side / min(w, h)
                # Even sizes, as video encoders and the official frames use.
                size = (max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2))
                batch.append(frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray())
                if len(batch) == 64:
                    count += write_frames(np.stack(batch), tmp, template, quality, first=count + 1)
                    batch = []
            if batch:
                count += write_frames(np.stack(batch), tmp, template, quality, first=count + 1)
    except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return folder, 0, f"{video}: {reason}"
    if count == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        return folder, 0, f"{video}: no decodable frames"
    shutil.rmtree(dst, ignore_errors=True)
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, dst)
    marker.write_text(str(count))
    return folder, count, None


def find_videos(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def extract_all(jobs: list[tuple[Path, Path]], *, short_side: int = 256, workers: int = 1,
                template: str = "{:05d}.jpg", quality: int = 90, progress=None) -> ExtractResult:
    """Extract each (video, folder) job in parallel; already finished folders are reused."""
    result = ExtractResult()
    todo = []
    for video, folder in jobs:
        if (folder / DONE_MARKER).is_file():
            result.reused.append(str(folder))
            result.frames[str(folder)] = int((folder / DONE_MARKER).read_text() or 0)
        else:
            todo.append((str(video), str(folder)))

    def record(out):
        folder, count, error = out
        if error:
            result.failed.append(error)
            log.warning("extract failed: %s", error)
        else:
            result.done.append(folder)
            result.frames[folder] = count
        if progress is not None:
            progress.update(1)

    if progress is not None:
        progress.update(len(result.reused))
    if workers <= 1:
        for video, folder in todo:
            record(extract_one(video, folder, short_side, template, quality))
    else:
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(extract_one, v, f, short_side, template, quality) for v, f in todo]
            for fut in futures:
                record(fut.result())
    return result


# ---------------------------------------------------------------- mini datasets


def shipped_classes(name: str) -> list[str]:
    """A class list shipped with stbench (``mini-kinetics``: 200 names, ``mini-ssv2``: 87)."""
    if name not in SHIPPED_CLASS_LISTS:
        raise DataError(f"unknown class list {name!r} (shipped: {', '.join(SHIPPED_CLASS_LISTS)})")
    text = resources.files("benchmark").joinpath("resources", "classes", SHIPPED_CLASS_LISTS[name]).read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_names(path: Path) -> list[str]:
    try:
        return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def select_classes(all_classes: list[str], select: str, seed: int = 0) -> list[str]:
    """The mini subset, sorted: a shipped list name, a file of names, or ``random-half``."""
    if select == "random-half":
        rng = np.random.default_rng(seed)
        chosen = rng.choice(len(all_classes), size=len(all_classes) // 2, replace=False)
        return sorted(all_classes[i] for i in chosen)
    names = shipped_classes(select) if select in SHIPPED_CLASS_LISTS else read_names(Path(select))
    unknown = [n for n in names if n not in all_classes]
    if unknown:
        raise DataError(f"class list {select}: {len(unknown)} classes not in the dataset's classes, "
                        f"e.g. {unknown[0]!r}")
    return sorted(names)


def make_mini(lists: list[Path], all_classes: list[str], mini_classes: list[str], out_dir: Path,
              separator: str | None = None) -> dict[str, int]:
    """Keep the lines of ``mini_classes`` (label = last field) and renumber labels in sorted order.

    Writes ``out_dir/mini_<list name>`` for each list and ``out_dir/mini_classes.txt``.
    """
    new_label = {all_classes.index(name): i for i, name in enumerate(sorted(mini_classes))}
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for path in lists:
        kept = []
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            fields = line.split(separator) if separator else line.split()
            try:
                label = int(fields[-1])
            except ValueError as exc:
                raise DataError(f"{path}:{i + 1}: label must be an integer, got {fields[-1]!r}") from exc
            if not 0 <= label < len(all_classes):
                raise DataError(f"{path}:{i + 1}: label {label} outside the class range 0..{len(all_classes) - 1}")
            if label in new_label:
                kept.append((separator or " ").join(fields[:-1] + [str(new_label[label])]))
        target = out_dir / f"mini_{Path(path).name}"
        target.write_text("".join(k + "\n" for k in kept))
        counts[str(target)] = len(kept)
    (out_dir / "mini_classes.txt").write_text("".join(n + "\n" for n in sorted(mini_classes)))
    return counts


# ---------------------------------------------------------------- index


def index_tree(root: Path, out: Path, classes_file: Path | None = None,
               classes_from: Path | None = None) -> tuple[int, str]:
    """List file ``<class>/<video> <label>`` of a class-per-subfolder tree (paths relative to root).

    Labels are the sorted class folder names, or the order of ``classes_from`` (so a validation
    tree reuses the training classes). Returns (number of videos, separator used): ``;`` when a
    path contains whitespace.
    """
    classes = read_names(classes_from) if classes_from else tree_classes(root)
    videos = tree_videos(root, classes)
    if not videos:
        raise DataError(f"{root}: no videos ({', '.join(VIDEO_EXTENSIONS)}) in its class folders")
    paths = [v.relative_to(root).as_posix() for v, _ in videos]
    separator = ";" if any(any(ch.isspace() for ch in p) for p in paths) else " "
    if separator == ";" and any(";" in p for p in paths):
        raise DataError(f"{root}: paths contain both whitespace and ';', no safe list separator")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{p}{separator}{label}\n" for p, (_, label) in zip(paths, videos)))
    if classes_file is not None:
        classes_file.write_text("".join(c + "\n" for c in classes))
    return len(videos), separator
