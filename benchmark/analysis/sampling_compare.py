"""Uniform vs dense sampling for matched models (paper 002 Fig. 5, Table 3).

Two runs are matched when they share dataset, module, backbone, temporal pooling and frames and
differ in the sampling their dataset used (``dataset.sampling`` of the run's recorded config, so
grids with or without a ``sampling`` axis work alike). Per sampling: the clip-level top-1 (1 clip,
1 centre crop: the best validation epoch, result.json ``top1``) and the video-level top-1 (the final
test with the run's ``eval.clips`` x ``eval.crops`` views, result.json ``video_top1``); seeds averaged.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from benchmark.analysis.clip_count import SAMPLINGS
from benchmark.analysis.printed import model_stem, paper_model_name
from benchmark.data import resolve_data_config
from benchmark.engine.run_reader import read_result
from benchmark.engine.tolerant_read import read_config
from benchmark.errors import StbenchError

MATCH = ["dataset", "module", "backbone", "tp", "frames"]
LONG_COLUMNS = [*MATCH, "model", "sampling", "seeds", "clip_top1", "video_top1", "video_views"]


def _sampling_of(dataset) -> str | None:
    """``sampling`` of a recorded ``dataset:`` (resolved mapping, preset name or preset mapping)."""
    if isinstance(dataset, Mapping) and dataset.get("sampling") in SAMPLINGS:
        return dataset["sampling"]
    try:
        return resolve_data_config(dataset).sampling
    except (StbenchError, OSError, TypeError, ValueError):
        return None


def recorded_run(run_dir: str | Path) -> tuple[str | None, str | None]:
    """(sampling, video views "m x k") as the run recorded them: config.yaml, else result.json's config."""
    config, _ = read_config(run_dir)
    if not config.get("dataset"):
        result, _ = read_result(run_dir)
        config = (result or {}).get("config") or {}
    if not isinstance(config, Mapping):
        return None, None
    evaluation = config.get("eval") if isinstance(config.get("eval"), Mapping) else {}
    clips, crops = evaluation.get("clips"), evaluation.get("crops")
    views = f"{clips}x{crops}" if isinstance(clips, int) and isinstance(crops, int) else None
    return _sampling_of(config.get("dataset")), views


def with_sampling(done: pd.DataFrame) -> pd.DataFrame:
    """The finished runs with their recorded ``sampling`` and video views (None where unknown); a
    ``sampling`` column already in the table (a grid axis) fills in where the run directory cannot."""
    rows = done.copy()
    found = [recorded_run(d) if isinstance(d, str) and Path(d).is_dir() else (None, None) for d in rows["run_dir"]]
    recorded = pd.Series([s for s, _ in found], index=rows.index, dtype=object)
    if "sampling" in rows.columns:
        recorded = recorded.where(recorded.notna(), rows["sampling"])
    rows["sampling"] = recorded
    rows["video_views"] = [v for _, v in found]
    return rows


def _unknown_note(unknown: pd.DataFrame) -> str:
    names = [f"{r.model} ({r.dataset})" for r in unknown.head(3).itertuples()]
    more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
    return (f"sampling unknown (no dataset.sampling in the run config, nor a known preset) for {len(unknown)} "
            f"run(s): {', '.join(names)}{more}")


def sampling_runs(done: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """One row per (model, dataset, sampling) of matched models, seeds averaged (columns
    ``LONG_COLUMNS``), and a line for each model left out (unknown sampling, no twin)."""
    if done.empty:
        return pd.DataFrame(columns=LONG_COLUMNS), []
    rows = with_sampling(done).assign(tp=lambda d: d["tp"].astype(bool), backbone=lambda d: d["backbone"].fillna("-"))
    unknown = rows[rows["sampling"].isna()]
    notes = [_unknown_note(unknown)] if len(unknown) else []
    rows = rows[rows["sampling"].isin(SAMPLINGS)]
    grouped = rows.groupby([*MATCH, "sampling"], dropna=False).agg(
        model=("model", "first"), seeds=("top1", "size"), clip_top1=("top1", "mean"),
        video_top1=("video_top1", "mean"), video_views=("video_views", "first")).reset_index()
    kinds = grouped.groupby(MATCH, dropna=False)["sampling"].transform("nunique")
    for r in grouped[kinds < 2].itertuples():
        other = "dense" if r.sampling == "uniform" else "uniform"
        notes.append(f"{r.model} ({r.dataset}): {r.sampling} only, no {other} twin")
    matched = grouped[kinds == 2]
    return matched[LONG_COLUMNS].reset_index(drop=True), notes


def table3(matched: pd.DataFrame, printed: pd.DataFrame | None = None) -> pd.DataFrame:
    """Wide: per matched model, clip- and video-level top-1 under each sampling; the paper's printed
    (full Kinetics, video level) values beside rows of a dataset whose name says Kinetics."""
    if matched.empty:
        return pd.DataFrame()
    wide = matched.pivot_table(index=[*MATCH, "model"], columns="sampling",
                               values=["clip_top1", "video_top1"], aggfunc="first")
    wide.columns = [f"{sampling}_{level.removesuffix('_top1')}" for level, sampling in wide.columns]
    wide = wide.reset_index()
    wide["model"] = wide["model"].map(model_stem)  # frames: its own column
    order = [c for c in ("uniform_clip", "uniform_video", "dense_clip", "dense_video") if c in wide]
    wide = wide[["dataset", "model", "frames", *order]]
    if printed is not None and not printed.empty:
        paper = printed.set_index("model")
        kinetics = wide["dataset"].astype(str).str.contains("kinetics", case=False)
        key = wide["model"].map(paper_model_name)
        for column, source in (("paper_uniform", "uniform_top1"), ("paper_dense", "dense_top1")):
            wide[column] = key.map(paper[source]).where(kinetics)
    return wide
