"""``stbench data check``: open every entry of a split and report each problem with file, line, reason."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

from benchmark.data.dataset import read_entries
from benchmark.data.dataset_config import DataConfig
from benchmark.data.formats import format_reader
from benchmark.data.listfile import Entry
from benchmark.errors import DataError


def check_entry(cfg: DataConfig, entry: Entry, quick: bool = False) -> str | None:
    """None if the entry is usable, else the reason (starting with its file:line)."""
    try:
        format_reader(cfg.format).check(cfg, entry, quick)
    except DataError as exc:
        return str(exc)
    return None


def _check_chunk(args: tuple[DataConfig, list[Entry], bool]) -> list[tuple[int, str]]:
    cfg, entries, quick = args
    return [(e.index, r) for e in entries if (r := check_entry(cfg, e, quick)) is not None]


def classes_problem(cfg: DataConfig) -> str | None:
    """Why the dataset's ``classes`` file does not name ``num_classes`` classes (None when it does or is unset)."""
    if cfg.classes is None:
        return None
    path = cfg.path(cfg.classes)
    try:
        names = [line for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        return f"{path}: cannot read the classes file ({getattr(exc, 'strerror', None) or exc})"
    if len(names) != cfg.num_classes:
        return f"{path}: {len(names)} class names but num_classes={cfg.num_classes}"
    return None


def check_split(cfg: DataConfig, split: str, *, quick: bool = False, workers: int = 1,
                progress=None) -> tuple[int, list[str]]:
    """(number of entries, problems: the classes file's first, then the entries' in list order)."""
    entries = read_entries(cfg, split)
    chunks = [entries[i:i + 64] for i in range(0, len(entries), 64)]
    problems: list[tuple[int, str]] = []
    if workers <= 1:
        results = map(_check_chunk, [(cfg, c, quick) for c in chunks])
    else:
        pool = ProcessPoolExecutor(workers)
        results = pool.map(_check_chunk, [(cfg, c, quick) for c in chunks])
    try:
        for chunk, found in zip(chunks, results):
            problems.extend(found)
            if progress is not None:
                progress.update(len(chunk))
    finally:
        if workers > 1:
            pool.shutdown()
    head = [p for p in (classes_problem(cfg),) if p is not None]
    return len(entries), head + [reason for _, reason in sorted(problems)]
