"""Running sums of one training epoch on one process, with named fields.

They travel as plain lists (``as_list``) where ranks exchange them (``all_sum``) and where a
mid-epoch checkpoint stores each rank's sums, so a resumed epoch continues its own totals (and
its training time, so the epoch's metrics line reports the whole epoch, not the resumed part).
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
    seconds: float = 0.0  # this process's training time in the epoch: saved, never summed over ranks

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
        """The sums (what the processes add up)."""
        return [getattr(self, name) for name in _SUMS]

    def saved(self) -> list[float]:
        """The sums and the time: what a mid-epoch checkpoint keeps of this process's epoch."""
        return [*self.as_list(), self.seconds]

    @classmethod
    def from_list(cls, values) -> EpochMeter:
        """From :meth:`as_list` or :meth:`saved` (a checkpoint from before the time was kept: 0 s)."""
        return cls(*values)


_SUMS = tuple(f.name for f in dataclasses.fields(EpochMeter) if f.name != "seconds")
