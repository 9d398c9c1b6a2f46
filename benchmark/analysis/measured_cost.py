"""Measured speed and memory (``stbench bench --out FILE``) joined with accuracy: paper Table 8 from
measurements, beside the printed values."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from benchmark.analysis.printed import paper_model_name
from benchmark.errors import DataError

BENCH_COLUMNS = ["model", "device", "batch", "size", "amp", "train_clips_per_s", "infer_clips_per_s",
                 "latency_ms", "peak_memory_mb", "max_batch"]


def load_bench(paths: list[str | Path]) -> pd.DataFrame:
    """The records of ``stbench bench --out`` files; a later file's record of a model replaces an earlier one."""
    records = []
    for path in map(Path, paths):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: not a bench file written by 'stbench bench --out' ({exc})") from exc
        if not isinstance(data, list) or not all(isinstance(r, dict) and "model" in r for r in data):
            raise DataError(f"{path}: expected a list of bench records (each with a 'model')")
        records += data
    table = pd.DataFrame(records).reindex(columns=BENCH_COLUMNS)
    return table.drop_duplicates(subset=["model", "device"], keep="last").reset_index(drop=True)


def table8(bench: pd.DataFrame, runs: pd.DataFrame, printed: pd.DataFrame) -> pd.DataFrame:
    """One row per measured model: its measurements, the source's top-1 for that model (mean over
    datasets and seeds it was trained on) and the paper's printed Table 8 values where it has the row."""
    top1 = runs.groupby("model")["top1"].mean().rename("top1") if len(runs) else pd.Series(name="top1", dtype=float)
    out = bench.merge(top1, left_on="model", right_index=True, how="left")
    paper = printed.rename(columns={"model": "paper_model", "top1": "paper_top1", "flops_g": "paper_flops_g",
                                    "throughput_clips_s": "paper_clips_per_s", "max_batch_size": "paper_max_batch"})
    out["paper_model"] = out["model"].map(paper_model_name)
    out = out.merge(paper.drop(columns=["source"], errors="ignore"), on="paper_model", how="left")
    return out
