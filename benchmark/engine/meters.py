"""Running sums of one training epoch on one process, with named fields.

The loss and correct-prediction sums of each batch are added on the device (float64, in batch
order): a step never waits for the device to report them. Reading any field (``loss``, ``top1``,
``as_list``, ...) brings them to the host: one device sync, done at log intervals, at the end of
the epoch and when a checkpoint is saved. The device keeps the running total itself (it is never
reset), so the sums are the same, bit for bit, however often they are read: a resumed epoch, read
at other moments, continues exactly.

They travel as plain lists (``as_list``) where ranks exchange them (``all_sum``) and where a
mid-epoch checkpoint stores each rank's sums, so a resumed epoch continues its own totals (and
its training time, so the epoch's metrics line reports the whole epoch, not the resumed part).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch


@dataclass
class EpochMeter:
    loss_sum: float = 0.0  # sum over clips of the batch-mean loss x batch size
    correct: float = 0.0  # top-1 correct clips
    clips: float = 0.0
    skipped: float = 0.0  # bad samples dropped by the loader
    seconds: float = 0.0  # this process's training time in the epoch: saved, never summed over ranks
    # (loss_sum, correct) on the device since the first batch added; None until then
    _device: torch.Tensor | None = field(default=None, compare=False, repr=False)
    _unread: bool = field(default=False, compare=False, repr=False)  # batches added since the last read

    def add_batch(self, loss: torch.Tensor, logits: torch.Tensor, label: torch.Tensor, skipped: int) -> None:
        """Add one batch without reading anything on the host (``label``'s length is host metadata)."""
        n = int(label.shape[0])
        if self._device is None:  # filled by kernels: a host-to-device copy would wait for the device
            self._device = torch.stack([torch.full((), v, dtype=torch.float64, device=loss.device)
                                        for v in (self.loss_sum, self.correct)])
        correct = (logits.detach().argmax(-1) == label).sum()
        self._device += torch.stack([loss.detach().double() * n, correct.double()])
        self.clips += n
        self.skipped += skipped
        self._unread = True

    def read(self) -> EpochMeter:
        """Bring the device sums to the host fields (one sync, none if nothing was added since)."""
        if self._unread:
            self.loss_sum, self.correct = self._device.tolist()
            self._unread = False
        return self

    @property
    def loss(self) -> float:
        self.read()
        return self.loss_sum / max(self.clips, 1)

    @property
    def top1(self) -> float:
        self.read()
        return 100.0 * self.correct / max(self.clips, 1)

    def as_list(self) -> list[float]:
        """The sums (what the processes add up)."""
        self.read()
        return [getattr(self, name) for name in _SUMS]

    def saved(self) -> list[float]:
        """The sums and the time: what a mid-epoch checkpoint keeps of this process's epoch."""
        return [*self.as_list(), self.seconds]

    @classmethod
    def from_list(cls, values) -> EpochMeter:
        """From :meth:`as_list` or :meth:`saved` (a checkpoint from before the time was kept: 0 s)."""
        return cls(*values)


_SUMS = tuple(f.name for f in dataclasses.fields(EpochMeter) if f.name in ("loss_sum", "correct", "clips", "skipped"))
