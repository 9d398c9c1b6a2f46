"""Running sums of one training epoch on one process, with named fields.

They travel as plain lists (``as_list``) where ranks exchange them (``all_sum``) and where a
mid-epoch checkpoint stores each rank's sums, so a resumed epoch continues its own totals.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch


@dataclass
class EpochMeter:
    loss_sum: float = 0.0  # sum over clips of the batch-mean loss x batch size
    correct: float = 0.0  # top-1 correct clips
    clips: float = 0.0
    skipped: float = 0.0  # bad samples dropped by the loader

    def add_batch(self, loss: torch.Tensor, logits: torch.Tensor, label: torch.Tensor, skipped: int) -> None:
        n = int(label.shape[0])
        self.loss_sum += loss.item() * n
        self.correct += (logits.detach().argmax(-1) == label).sum().item()
        self.clips += n
        self.skipped += skipped

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.clips, 1)

    @property
    def top1(self) -> float:
        return 100.0 * self.correct / max(self.clips, 1)

    def as_list(self) -> list[float]:
        return [getattr(self, f.name) for f in dataclasses.fields(self)]

    @classmethod
    def from_list(cls, values) -> EpochMeter:
        return cls(*values)
