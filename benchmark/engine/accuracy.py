"""Accuracy maths: top-k, multi-view (m clips x k crops) aggregation, merging DDP shards."""

from __future__ import annotations

import numpy as np
import torch


def aggregate_views(logits: torch.Tensor, average: str = "logits") -> torch.Tensor:
    """``(N, V, C)`` per-view logits -> ``(N, C)`` video scores.

    ``"logits"`` averages the raw logits over the V = clips x crops views (the official choice);
    ``"softmax"`` averages the class probabilities instead.
    """
    if logits.dim() != 3:
        raise ValueError(f"expected (N, views, classes) logits, got shape {tuple(logits.shape)}")
    if average == "logits":
        return logits.float().mean(dim=1)
    if average == "softmax":
        return logits.float().softmax(dim=-1).mean(dim=1)
    raise ValueError(f"average must be 'logits' or 'softmax', got {average!r}")


def topk_correct(scores: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Per-sample bool: is the label among the ``k`` highest scores (k capped at the class count)?"""
    k = min(k, scores.shape[-1])
    top = scores.topk(k, dim=-1).indices
    return (top == labels.view(-1, 1)).any(dim=-1)


def accuracy(scores: torch.Tensor, labels: torch.Tensor, k: int = 1) -> float:
    """Top-k accuracy in %."""
    if len(labels) == 0:
        return 0.0
    return 100.0 * int(topk_correct(scores, labels, k).sum()) / len(labels)


def mean_class_accuracy(scores: torch.Tensor, labels: torch.Tensor) -> float | None:
    """Unweighted mean over the classes present among ``labels`` of their top-1 (%): rare classes
    weigh like frequent ones (mmaction2's mean class accuracy). None without samples."""
    if len(labels) == 0:
        return None
    correct = (scores.argmax(-1) == labels).double()
    classes = labels.unique()
    return float(torch.stack([correct[labels == c].mean() for c in classes]).mean() * 100.0)


def merge_shards(shards: list[dict]) -> dict:
    """Merge per-rank ``{"index", "label", "scores"}`` arrays into one record per video.

    A ``DistributedSampler`` pads the last ranks with repeated samples; keying by the dataset
    ``index`` drops those repeats so no video is counted twice. The result is sorted by index.
    """
    seen: dict[int, tuple] = {}
    for shard in shards:
        for i, label, row in zip(shard["index"], shard["label"], shard["scores"]):
            i = int(i)
            if i in seen:
                if int(seen[i][0]) != int(label):
                    raise RuntimeError(f"sample {i} has two different labels across ranks")
                continue
            seen[i] = (int(label), row)
    order = sorted(seen)
    scores = np.stack([np.asarray(seen[i][1], dtype=np.float32) for i in order]) if order else np.zeros((0, 0))
    return {
        "index": np.asarray(order, dtype=np.int64),
        "label": np.asarray([seen[i][0] for i in order], dtype=np.int64),
        "scores": scores,
    }
