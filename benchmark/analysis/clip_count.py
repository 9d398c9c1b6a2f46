"""Accuracy vs the number of test clips (paper 002 Fig. 8/9) from one evaluation's per-view logits.

``stbench test RUN --clips m --crops k`` keeps every view's logits (``views-c{m}x{k}.npz``). The
accuracy for n <= m clips is derived from them without running the network again: for each n, the
n of the m clips that the test protocol (``benchmark.data.sampling``) would have taken for n are
averaged the way the run averages views (``eval.average``: logits or softmax).

Which of the m clips stand for the n-clip protocol (:func:`clip_subset`):

- **uniform**: clip ``i`` of m is shifted by offset ``clip_offsets(m)[i]`` (-m/2 <= offset < m/2)
  from each segment's centre; the n-clip offsets are a subset of the m-clip ones, so the n clips
  are *exactly* the protocol's (each clamped shift is a function of its offset alone).
- **dense**: the m clips start at ``linspace(0, L, m)``, the n clips at ``linspace(0, L, n)`` (one
  clip: the first). These are generally not a subset: n-clip start ``i`` is taken as the m-clip
  start nearest to it, index ``round(i * (m - 1) / (n - 1))`` with halves rounded up (exact in real
  positions whatever L; the truncation to whole frames can move the true nearest by one frame).
  For n = 1 (start 0), n = m, and n - 1 dividing m - 1 the choice is exact.

The views of one crop count k are all kept; a smaller crop count is derived only where its views
are among the k: 1 of 10 crops (the centre crop, the 1-crop protocol's view). 1 of 3 crops is not
(3-crop views are full-height squares, the 1-crop view a centre ``crop`` x ``crop`` square).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark.data.sampling import clip_offsets
from benchmark.engine.accuracy import accuracy, aggregate_views
from benchmark.errors import DataError

VIEWS_FILE = re.compile(r"^views-c(\d+)x(\d+)\.npz$")
TEN_CROP_CENTRE = 4  # eval_views(num_crops=10): 4 corners, the centre, then their flips
SAMPLINGS = ("uniform", "dense")


def clip_subset(sampling: str, m: int, n: int) -> list[int]:
    """Indices (into the m clips of an m-clip test) standing for the n-clip protocol, 1 <= n <= m."""
    if not 1 <= n <= m:
        raise ValueError(f"need 1 <= n <= m, got n={n}, m={m}")
    if sampling == "uniform":
        offsets = clip_offsets(m)
        return [offsets.index(o) for o in clip_offsets(n)]
    if sampling == "dense":
        if n == 1:
            return [0]
        # floor(i (m-1)/(n-1) + 1/2) in integers: no float rounding at the halves
        return [(2 * i * (m - 1) + (n - 1)) // (2 * (n - 1)) for i in range(n)]
    raise ValueError(f"unknown sampling {sampling!r} (uniform or dense)")


def crop_subset(saved: int, crops: int) -> list[int] | None:
    """Indices of the ``crops``-crop protocol's views among ``saved`` crops; None if not among them."""
    if crops == saved:
        return list(range(saved))
    if saved == 10 and crops == 1:
        return [TEN_CROP_CENTRE]
    return None


@dataclass(frozen=True)
class ViewLogits:
    """One ``views-c{m}x{k}.npz``: logits (N, m clips, k crops, C) of N videos."""

    path: Path
    index: np.ndarray
    label: np.ndarray
    logits: np.ndarray
    sampling: str
    average: str

    @property
    def clips(self) -> int:
        return self.logits.shape[1]

    @property
    def crops(self) -> int:
        return self.logits.shape[2]


def load_view_logits(path: str | Path) -> ViewLogits:
    """Read a views file; a damaged or foreign one is one line naming it."""
    path = Path(path)
    if path.is_file() and not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a readable per-view logits file (not an .npz archive: damaged?)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in ("index", "label", "logits", "sampling", "average")}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable per-view logits file ({exc})") from exc
    logits, sampling = data["logits"], str(data["sampling"])
    if logits.ndim != 4 or len(logits) != len(data["label"]) or sampling not in SAMPLINGS:
        raise DataError(f"{path}: logits must be (videos, clips, crops, classes) with one label per video "
                        f"and sampling uniform|dense; got shape {logits.shape}, sampling {sampling!r}")
    return ViewLogits(path, data["index"], data["label"].astype(np.int64), logits, sampling, str(data["average"]))


def find_view_logits(run_dir: str | Path) -> Path | None:
    """The run's views file with the most clips (then crops), or None."""
    found = []
    for path in Path(run_dir).glob("views-c*x*.npz"):
        match = VIEWS_FILE.match(path.name)
        if match:
            found.append((int(match[1]), int(match[2]), path))
    return max(found)[2] if found else None


def accuracy_vs_clips(views: ViewLogits, crops: int | None = None) -> pd.DataFrame:
    """Top-1/top-5 (%) for n = 1..m clips (columns n_clips, crops, top1, top5); ``crops`` defaults
    to the saved count, and must be derivable from it (:func:`crop_subset`)."""
    crops = views.crops if crops is None else crops
    chosen = crop_subset(views.crops, crops)
    if chosen is None:
        raise ValueError(f"{views.path}: {crops}-crop views are not among the {views.crops} saved crops")
    logits = torch.from_numpy(np.ascontiguousarray(views.logits[:, :, chosen], dtype=np.float32))
    labels = torch.from_numpy(views.label)
    rows = []
    for n in range(1, views.clips + 1):
        picked = logits[:, clip_subset(views.sampling, views.clips, n)]
        scores = aggregate_views(picked.flatten(1, 2), views.average)
        rows.append({"n_clips": n, "crops": crops, "top1": accuracy(scores, labels, 1),
                     "top5": accuracy(scores, labels, 5)})
    return pd.DataFrame(rows, columns=["n_clips", "crops", "top1", "top5"])


CURVE_COLUMNS = ["dataset", "model", "module", "backbone", "tp", "frames", "seed", "sampling", "n_clips", "crops",
                 "views", "top1", "top5", "gflops", "run_dir"]
HOW_TO_KEEP = "run 'stbench test RUN_DIR --clips 10 --crops 3' to keep them"


def _run_curves(run: pd.Series, views: ViewLogits) -> pd.DataFrame:
    counts = [views.crops] + ([1] if views.crops == 10 else [])
    curve = pd.concat([accuracy_vs_clips(views, k) for k in counts], ignore_index=True)
    curve["views"] = curve["n_clips"] * curve["crops"]
    # the recorded one-clip cost (macs_conv: one 224x224 clip) times the views evaluated
    macs = run.get("macs_conv")
    curve["gflops"] = curve["views"] * float(macs) / 1e9 if pd.notna(macs) else float("nan")
    for key in ("dataset", "model", "module", "backbone", "tp", "frames", "seed", "run_dir"):
        curve[key] = run.get(key)
    curve["sampling"] = views.sampling
    return curve[CURVE_COLUMNS]


def clip_count_curves(done: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Accuracy for 1..m clips of every finished run holding a views file (one row per run, n and
    crop count), and one line per run without one or with a damaged one (what the report says)."""
    curves, missing = [], []
    for _, run in done.iterrows():
        run_dir = run.get("run_dir")
        path = find_view_logits(run_dir) if isinstance(run_dir, str) and Path(run_dir).is_dir() else None
        name = f"{run.get('model')} ({run.get('dataset')})"
        if path is None:
            missing.append(f"{name}: no per-view logits")
            continue
        try:
            curves.append(_run_curves(run, load_view_logits(path)))
        except DataError as exc:
            missing.append(f"{name}: {exc}")
    table = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS)
    return table, missing
