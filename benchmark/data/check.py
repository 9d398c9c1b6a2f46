"""``stbench data check``: open every entry of a split and report each problem with file, line, reason."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import av

from benchmark.data.dataset_config import DataConfig
from benchmark.data.dataset import open_source, read_entries
from benchmark.data.decode import FrameFolder, VideoFile, truncation_tolerance
from benchmark.data.listfile import Entry
from benchmark.errors import DataError


def check_entry(cfg: DataConfig, entry: Entry, quick: bool = False) -> str | None:
    """None if the entry is usable, else the reason (starting with its file:line)."""
    try:
        source = open_source(cfg, entry)
        if isinstance(source, FrameFolder):
            present = {p.name for p in source.folder.iterdir()}
            names = [cfg.filename_template.format(entry.start + k) for k in range(source.num_frames)]
            missing = [n for n in names if n not in present]
            if missing:
                return (f"{entry.where}: {len(missing)} of {len(names)} frames missing in {source.folder}, "
                        f"first {missing[0]}")
            n = source.num_frames
            source.read([0, n // 2, n - 1] if quick else list(range(n)))
        else:
            _check_video(source, quick)
    except DataError as exc:
        return str(exc)
    return None


def _check_video(source: VideoFile, quick: bool) -> None:
    if quick:
        source.read([0, source.num_frames - 1])
        return
    decoded = 0
    try:
        for _ in source.container.decode(source.stream):
            decoded += 1
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise DataError(f"{source.where}: cannot decode video {source.path} after {decoded} frames ({exc})") from exc
    finally:
        source.close()
    if decoded == 0:
        raise DataError(f"{source.where}: no decodable frame in video {source.path}")
    if decoded < source.num_frames - truncation_tolerance(source.num_frames):
        raise DataError(f"{source.where}: video {source.path} is truncated or damaged: only {decoded} of the "
                        f"{source.num_frames} frames its container declares decode")


def _check_chunk(args: tuple[DataConfig, list[Entry], bool]) -> list[tuple[int, str]]:
    cfg, entries, quick = args
    return [(e.index, r) for e in entries if (r := check_entry(cfg, e, quick)) is not None]


def check_split(cfg: DataConfig, split: str, *, quick: bool = False, workers: int = 1,
                progress=None) -> tuple[int, list[str]]:
    """(number of entries, problems in list order)."""
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
    return len(entries), [reason for _, reason in sorted(problems)]
