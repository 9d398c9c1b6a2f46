"""Learning rate as a pure function of the epoch (Table 12: cosine for 8 frames, else multi-step).

A stateless schedule makes resume exact by construction: the checkpoint's epoch is the whole
scheduler state. The rate changes at epoch boundaries, as in the official code.
"""

from __future__ import annotations

import bisect
import math


def lr_at(epoch: int, *, base_lr: float, epochs: int, name: str, milestones=(), gamma: float = 0.1,
          warmup_epochs: int = 0, warmup_start: float | None = None) -> float:
    """The learning rate of 0-based ``epoch``.

    ``cosine``: ``base * (1 + cos(pi * e / epochs)) / 2``; ``multistep``: ``base * gamma**k`` where
    k counts the milestones ``<= e`` (as torch's ``MultiStepLR`` stepped per epoch: milestone 10
    lowers the rate from 0-based epoch 10 on); ``constant``. A linear warm-up over the first
    ``warmup_epochs`` epochs scales any of them by ``(e + 1) / (warmup_epochs + 1)``, or, with
    ``warmup_start``, rises linearly from that rate to the schedule's rate at ``warmup_epochs``
    (SlowFast's warm-up: paper 002's full-dataset recipe goes from 0.01 to 1.6 over 34 epochs).
    """
    if name == "cosine":
        lr = base_lr * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
    elif name == "multistep":
        lr = base_lr * gamma ** bisect.bisect_right(sorted(milestones), epoch)
    elif name == "constant":
        lr = base_lr
    else:
        raise ValueError(f"unknown schedule {name!r} (valid: cosine, multistep, constant)")
    if warmup_epochs and epoch < warmup_epochs:
        if warmup_start is None:
            return lr * (epoch + 1) / (warmup_epochs + 1)
        end = lr_at(warmup_epochs, base_lr=base_lr, epochs=epochs, name=name, milestones=milestones, gamma=gamma)
        return warmup_start + (end - warmup_start) * epoch / warmup_epochs
    return lr
