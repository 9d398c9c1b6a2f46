"""What a run carries from epoch to epoch and restores on resume (``last.pt``'s ``state``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done of the next epoch (a mid-epoch pre-emption checkpoint)
    best_top1: float | None = None
    best_top5: float | None = None
    best_epoch: int | None = None
    skipped: int = 0  # most samples skipped in one epoch (training + validation)
    train_time: float = 0.0
    train_clips: int = 0
    wall: float = 0.0
    stats: list = field(default_factory=list)  # per rank: the interrupted epoch's EpochMeter.as_list()

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, saved: dict) -> TrainState:
        """Known keys of a checkpoint's state (older checkpoints may lack some: defaults stay)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in names})

    def record_validation(self, val: dict | None, epoch: int) -> bool:
        """Keep the best validation top-1 so far; True when ``val`` (epoch ``epoch``, 1-based) improved it."""
        improved = val is not None and val["top1"] is not None and (
            self.best_top1 is None or val["top1"] > self.best_top1)
        if improved:
            self.best_top1, self.best_top5, self.best_epoch = val["top1"], val["top5"], epoch
        return improved
