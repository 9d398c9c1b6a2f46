"""Evaluation: per-video scores over every rank's shard, and the predictions files of a run."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmark.engine import atomic_io
from benchmark.engine.accuracy import accuracy, aggregate_views, merge_shards, topk_correct
from benchmark.engine.builders import RunInputs, autocast, testing_loader
from benchmark.engine.distributed import DistInfo, gather_objects
from benchmark.engine.run_config import RunConfig
from benchmark.engine.run_log import progress_bar
from benchmark.engine.signals import EvaluationStopped


@torch.no_grad()
def evaluate_model(model: nn.Module, loader, device: torch.device, info: DistInfo, *,
                   average: str = "logits", amp: bool | str | None = False, progress: bool = False,
                   stop_requested: Callable[[], bool] | None = None, keep_views: bool = False) -> dict:
    """Per-video scores over every rank's shard, merged without double counting.

    Returns ``{"index", "label", "scores" (N, C), "top1", "top5", "loss", "clips", "skipped"}``,
    and with ``keep_views`` also ``"views"`` (N, V, C): each view's logits in the loader's order
    (clip-major: clip c's crop j is view ``c * crops + j``), what the clip-count analysis re-averages.
    ``loss`` is the cross-entropy of the aggregated scores when they are logits, else of their log.
    ``stop_requested`` is asked before every batch; once it is true on any process, every process
    raises :class:`EvaluationStopped` (the ranks agree when they exchange their shards: their batch
    counts may differ by one, so a per-batch agreement could hang).
    """
    model.eval()
    index, labels, scores, views_kept, skipped, stopped = [], [], [], [], 0, False
    bar = progress_bar(len(loader), "eval", progress and info.is_main)
    for batch in loader:
        if stop_requested is not None and stop_requested():
            stopped = True
            break
        skipped += int(batch.get("skipped", 0))
        if batch["label"].shape[0] == 0:  # every sample of the batch was bad (on_bad_sample: skip)
            continue
        video = loader.model_input(batch["video"], device)
        multi = video.dim() == 6
        b = video.shape[0]
        views = video.shape[1] if multi else 1
        flat = video.flatten(0, 1) if multi else video
        with autocast(amp, device):  # a run config's amp value: fp16 on CUDA only, bf16 anywhere
            logits = model(flat)
        logits = logits.float().view(b, views, -1)
        scores.append(aggregate_views(logits, average).cpu())
        if keep_views:
            views_kept.append(logits.cpu())
        index.append(batch["index"].cpu())
        labels.append(batch["label"].cpu())
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    shard = {
        "index": torch.cat(index).numpy() if index else np.zeros(0, np.int64),
        "label": torch.cat(labels).numpy() if labels else np.zeros(0, np.int64),
        "scores": torch.cat(scores).numpy() if scores else np.zeros((0, 0), np.float32),
        "skipped": skipped,
        "stopped": stopped,
    }
    if keep_views:
        shard["views"] = torch.cat(views_kept).numpy() if views_kept else np.zeros((0, 0, 0), np.float32)
    shards = gather_objects(shard, info)
    if any(s["stopped"] for s in shards):
        raise EvaluationStopped("evaluation stopped by a pre-emption signal")
    merged = merge_shards(shards)
    merged["skipped"] = sum(s["skipped"] for s in shards)
    if keep_views:
        # the same index-keyed merge as the scores: one (V, C) row per video, padding repeats dropped
        merged["views"] = merge_shards([{"index": s["index"], "label": s["label"], "scores": s["views"]}
                                        for s in shards])["scores"]
    return _with_metrics(merged, average)


def _with_metrics(merged: dict, average: str) -> dict:
    """Add ``clips`` (videos), ``top1``, ``top5`` and ``loss`` (None without videos) to merged scores."""
    s = torch.from_numpy(merged["scores"])
    y = torch.from_numpy(merged["label"])
    n = len(y)
    merged["clips"] = n
    if n:
        merged["top1"], merged["top5"] = accuracy(s, y, 1), accuracy(s, y, 5)
        logp = s.log_softmax(-1) if average == "logits" else s.clamp_min(1e-12).log()
        merged["loss"] = float(-logp[torch.arange(n), y].mean())
    else:
        merged["top1"] = merged["top5"] = merged["loss"] = None
    return merged


def write_predictions(out_dir: Path, merged: dict, videos: list[str] | None, stem: str = "predictions") -> None:
    """``<stem>.csv`` (index,video,label,pred,correct1,correct5) and ``<stem>.npz`` (index, label, scores)."""
    s = torch.from_numpy(merged["scores"])
    y = torch.from_numpy(merged["label"])
    lines = ["index,video,label,pred,correct1,correct5"]
    if len(y):
        pred = s.argmax(-1)
        c1 = topk_correct(s, y, 1)
        c5 = topk_correct(s, y, 5)
        for i, idx in enumerate(merged["index"].tolist()):
            name = videos[idx] if videos is not None and idx < len(videos) else ""
            if any(ch in name for ch in ',"\n'):
                name = '"' + name.replace('"', '""') + '"'
            lines.append(f"{idx},{name},{int(y[i])},{int(pred[i])},{int(c1[i])},{int(c5[i])}")
    atomic_io.write_bytes_atomic(out_dir / f"{stem}.csv", ("\n".join(lines) + "\n").encode())

    buf = io.BytesIO()
    np.savez_compressed(buf, index=merged["index"], label=merged["label"], scores=merged["scores"])
    atomic_io.write_bytes_atomic(out_dir / f"{stem}.npz", buf.getvalue())


VIEWS_STEM = "views"  # views-c{m}x{k}.npz: per-view logits written by ``stbench test`` (docs/run-directory.md)


def write_view_logits(out_dir: Path, merged: dict, *, clips: int, crops: int, sampling: str, average: str,
                      stem: str) -> Path:
    """``<stem>.npz``: index, label, logits (N, clips, crops, C) float32 and how the views were made.

    float32, not float16: re-averaging the kept views must reproduce the run's own accuracy exactly
    (a half-precision round can flip a near tie). Size: N x clips x crops x classes x 4 bytes, compressed.
    """
    views = np.asarray(merged["views"], dtype=np.float32)
    n = len(merged["index"])
    classes = views.shape[-1] if n else 0
    logits = views.reshape(n, clips, crops, classes)
    buf = io.BytesIO()
    np.savez_compressed(buf, index=merged["index"], label=merged["label"], logits=logits,
                        clips=np.int64(clips), crops=np.int64(crops), sampling=np.str_(sampling),
                        average=np.str_(average))
    path = out_dir / f"{stem}.npz"
    atomic_io.write_bytes_atomic(path, buf.getvalue())
    return path


def video_names(dataset) -> list[str] | None:
    """Each list entry's video (relative to the dataset root), indexed like ``batch["index"]``."""
    entries = getattr(dataset, "entries", None)
    if not isinstance(entries, list | tuple):
        return None
    root = Path(dataset.cfg.root)
    names = []
    for entry in entries:
        path = getattr(entry, "path", None)
        if path is None:
            names.append("")
            continue
        try:
            names.append(str(Path(path).relative_to(root)))
        except ValueError:
            names.append(str(path))
    return names


def run_test(model: nn.Module, inputs: RunInputs, cfg: RunConfig, info: DistInfo, device: torch.device, clips: int,
             crops: int, stop_requested: Callable[[], bool] | None = None,
             keep_views: bool = False) -> tuple[dict, list[str] | None]:
    """The model on the evaluation split with ``clips`` x ``crops`` views per video: merged scores
    (and per-view logits with ``keep_views``) and the videos' names (the final test of a training
    run and ``evaluate()`` alike)."""
    loader = testing_loader(inputs, cfg, info, device, clips, crops)
    merged = evaluate_model(model, loader, device, info, average=cfg.eval.average,
                            amp=cfg.amp, progress=True, stop_requested=stop_requested,
                            keep_views=keep_views)
    return merged, video_names(loader.dataset)
