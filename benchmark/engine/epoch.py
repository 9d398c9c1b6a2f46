"""One training epoch: the learning rate, the loop over batches and one optimiser step.

Before each step all processes agree on two things (a lone process acting alone would hang DDP):
whether a pre-emption signal arrived anywhere, and how many good samples each one has (with
``on_bad_sample: skip`` a batch may lose some or all). After the backward pass they agree on
whether the loss is finite.

Uneven batches (DDP, some samples bad): the step still uses every good sample, and its gradient is
the one of the mean loss over all of them, exactly as if one process had them all: each process
back-propagates its samples' summed loss divided by the total, outside DDP, and the gradients are
summed over the processes by hand (a process without samples adds zeros). With SyncBatchNorm the
forward itself needs every process, so there a step where some process has no sample is skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import torch
from torch import nn

from benchmark.engine.builders import Training
from benchmark.engine.meters import EpochMeter
from benchmark.engine.run_log import progress_bar
from benchmark.engine.schedule import lr_at
from benchmark.errors import StbenchError

log = logging.getLogger("benchmark.engine")


class RunFailed(StbenchError):
    """The run stopped as failed (e.g. a NaN loss); the reason is in state.json."""


def set_epoch_lr(t: Training, epoch: int) -> float:
    s = t.cfg.schedule
    lr = t.lr0 * lr_at(epoch, base_lr=1.0, epochs=t.cfg.epochs, name=s.name, milestones=s.milestones,
                       gamma=s.gamma, warmup_epochs=s.warmup_epochs)
    for group in t.optimizer.param_groups:
        group["lr"] = lr
    return lr


def _agree(t: Training, stop: bool, good: int) -> tuple[bool, list[int]]:
    """Whether any process wants to stop, and every process's number of good samples."""
    mine = torch.tensor([float(stop), float(good)], device=t.device)
    if not t.info.distributed:
        return stop, [good]
    rows = [torch.zeros_like(mine) for _ in range(t.info.world_size)]
    torch.distributed.all_gather(rows, mine)
    return any(bool(r[0] > 0) for r in rows), [int(r[1]) for r in rows]


def _has_sync_bn(model: nn.Module) -> bool:
    return any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())


def _any_rank(t: Training, *flags: bool) -> list[bool]:
    """Each flag, true when it is true on any process."""
    agreed = torch.tensor([1.0 if f else 0.0 for f in flags], device=t.device)
    if t.info.distributed:
        torch.distributed.all_reduce(agreed, op=torch.distributed.ReduceOp.MAX)
    return [bool(x > 0) for x in agreed]


def _uneven_backward(t: Training, video: torch.Tensor, label: torch.Tensor, total: int):
    """This process's share of the mean loss over all ``total`` good samples, back-propagated
    through the bare model (DDP's hooks would average over the processes, some without samples),
    then the gradients summed over the processes. Returns the logits and this process's mean loss."""
    logits, mean = None, torch.zeros((), device=t.device)
    if label.shape[0]:
        with torch.autocast(t.device.type, enabled=t.amp):
            logits = t.model(video)
            per_sample = nn.functional.cross_entropy(logits.float(), label, reduction="none")
        mean = per_sample.mean()
        t.scaler.scale(per_sample.sum() / total).backward()
    for p in t.model.parameters():
        if p.requires_grad:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            torch.distributed.all_reduce(p.grad)
    return logits, mean


def train_step(t: Training, batch: dict, meter: EpochMeter, where: str, counts: list[int] | None = None) -> None:
    """Forward, backward, (clip), a finite-loss check on every process, then the optimiser step.

    ``counts``: every process's number of good samples in this step; when they differ, the uneven
    step of the module doc (a process may then have none).
    """
    video = t.loader.model_input(batch["video"], t.device)
    label = batch["label"].to(t.device, non_blocking=True)
    t.optimizer.zero_grad(set_to_none=True)
    if counts is not None and len(set(counts)) > 1:
        logits, loss = _uneven_backward(t, video, label, sum(counts))
    else:
        with torch.autocast(t.device.type, enabled=t.amp):
            logits = t.train_model(video)
            loss = nn.functional.cross_entropy(logits.float(), label)
        t.scaler.scale(loss).backward()
    if t.cfg.optim.grad_clip:
        t.scaler.unscale_(t.optimizer)
        nn.utils.clip_grad_norm_(t.model.parameters(), t.cfg.optim.grad_clip)
    loss_value = loss.detach().float()
    if _any_rank(t, not bool(torch.isfinite(loss_value)))[0]:
        raise RunFailed(f"non-finite training loss ({loss_value.item()}) at {where}")
    t.scaler.step(t.optimizer)
    t.scaler.update()
    if logits is None:  # this process had no good sample
        meter.skipped += int(batch.get("skipped", 0))
    else:
        meter.add_batch(loss_value, logits, label, int(batch.get("skipped", 0)))


def train_epoch(t: Training, epoch: int, start_batch: int, meter: EpochMeter, stop_requested: Callable[[], bool],
                preempt: Callable[[int, float], None]) -> float:
    """Batches ``start_batch..steps`` of ``epoch`` into ``meter``; returns the epoch's time in seconds.

    When any process has ``stop_requested()``, calls ``preempt(batch_index, seconds_so_far)``
    before the next step (it checkpoints and raises). ``meter.seconds`` gains the time spent.
    """
    cfg, info = t.cfg, t.info
    t.loader.set_epoch(epoch, start_batch)
    t.train_model.train()
    t0 = time.time()
    bar = progress_bar(t.steps - start_batch, f"epoch {epoch + 1}/{cfg.epochs}", info.is_main)
    batch_idx = start_batch
    try:
        for batch in t.loader if start_batch < t.steps else ():  # all done: a validation was cut short
            if batch_idx >= t.steps:
                break
            stop, counts = _agree(t, stop_requested(), int(batch["label"].shape[0]))
            if stop:
                if bar is not None:
                    bar.close()
                    bar = None
                meter.seconds += time.time() - t0
                preempt(batch_idx, time.time() - t0)
            if not any(counts) or (0 in counts and _has_sync_bn(t.model)):
                meter.skipped += int(batch.get("skipped", 0))
                batch_idx += 1
                continue
            train_step(t, batch, meter, f"epoch {epoch + 1}, batch {batch_idx + 1}", counts)
            batch_idx += 1
            _report(t, bar, meter, epoch, batch_idx, t0)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.time() - t0
    meter.seconds += seconds
    return seconds


def _report(t: Training, bar, meter: EpochMeter, epoch: int, batch_idx: int, t0: float) -> None:
    rate = meter.clips * t.info.world_size / max(time.time() - t0, 1e-9)  # this session's part of the epoch
    if bar is not None:
        bar.update(1)
        bar.set_postfix(loss=f"{meter.loss:.3f}", acc=f"{meter.top1:.1f}", clips_s=f"{rate:.1f}")
    elif t.info.is_main and batch_idx % t.cfg.log_every == 0:
        log.info("epoch %d batch %d/%d loss %.4f acc %.2f", epoch + 1, batch_idx, t.steps, meter.loss, meter.top1)
    if t.info.is_main and batch_idx % t.cfg.log_every == 0:
        t.loggers.log_step(epoch * t.steps + batch_idx, {"train_loss": meter.loss, "train_top1": meter.top1,
                                                         "lr": t.optimizer.param_groups[0]["lr"], "clips_per_s": rate})
