"""One training epoch: the learning rate, the loop over batches and one optimiser step.

:func:`train_on` is the one training step (forward and loss under the run's autocast, GradScaler
backward, clipping, the fused SGD step): the epoch feeds it the loader's batches, ``stbench bench``
random clips, so Table 8's speed is the cost of the training that produced the accuracy beside it.

Before each step all processes agree on two things (a lone process acting alone would hang DDP):
whether a pre-emption signal arrived anywhere, and how many good samples each one has (with
``on_bad_sample: skip`` a batch may lose some or all). They agree on the host (a gloo group beside
NCCL), so the agreement never waits for the GPU.

A step reads nothing back from the device: the epoch's sums stay there (``EpochMeter``) and a
non-finite loss skips the optimiser step on the device (the fused SGD kernel's
``found_inf``, the flag GradScaler uses) and is noted by :class:`FiniteWatch`. The host reads both
at log intervals, before a checkpoint and at the end of the epoch; a non-finite step then fails the
run naming its epoch and batch, before anything after it is saved.

Uneven batches (DDP, some samples bad): the step still uses every good sample, and its gradient is
the one of the mean loss over all of them, exactly as if one process had them all: each process
back-propagates its samples' summed loss divided by the total, outside DDP, and the gradients are
summed over the processes by hand (a process without samples adds zeros). With SyncBatchNorm the
forward itself needs every process, so there a step where some process has no sample is skipped.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import torch
from torch import nn

from benchmark.engine.builders import StepParts, Training, autocast
from benchmark.engine.meters import EpochMeter
from benchmark.engine.run_log import progress_bar
from benchmark.engine.schedule import lr_at
from benchmark.errors import StbenchError

log = logging.getLogger("benchmark.engine")


class RunFailed(StbenchError):
    """The run stopped as failed (e.g. a NaN loss); the reason is in state.json."""


def set_epoch_lr(t: Training, epoch: int) -> float:
    s = t.cfg.schedule
    start = None if s.warmup_start_lr is None else s.warmup_start_lr / t.lr0  # lr0: the (scaled) base rate
    lr = t.lr0 * lr_at(epoch, base_lr=1.0, epochs=t.cfg.epochs, name=s.name, milestones=s.milestones,
                       gamma=s.gamma, warmup_epochs=s.warmup_epochs, warmup_start=start)
    for group in t.optimizer.param_groups:
        group["lr"] = lr
    return lr


def _agree(t: Training, stop: bool, good: int) -> tuple[bool, list[int]]:
    """Whether any process wants to stop, and every process's number of good samples."""
    if not t.info.distributed:
        return stop, [good]
    mine = torch.tensor([float(stop), float(good)])
    rows = [torch.zeros_like(mine) for _ in range(t.info.world_size)]
    torch.distributed.all_gather(rows, mine, group=t.control)
    return any(r[0].item() > 0 for r in rows), [int(r[1].item()) for r in rows]


def _has_sync_bn(model: nn.Module) -> bool:
    return any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())


class FiniteWatch:
    """The first step of the epoch with a non-finite loss (on any process), kept on the device;
    :meth:`check` reads it (one sync, every process together) and fails the run."""

    def __init__(self, t: StepParts):
        self.t = t
        self.first = torch.full((2,), -1.0, dtype=torch.float64, device=t.device)  # (step, loss) of the first
        self.wheres: list[str] = []  # the steps noted since the last check

    def note(self, bad: torch.Tensor, loss: torch.Tensor, where: str) -> None:
        step = torch.full((), float(len(self.wheres)), dtype=torch.float64, device=loss.device)
        new = bad & (self.first[0] < 0)
        self.first = torch.where(new, torch.stack([step, loss.detach().double()]), self.first)
        self.wheres.append(where)

    def check(self) -> None:
        """Raise :class:`RunFailed` on every process when a step since the last check was not finite."""
        step, value = self.first.tolist()
        found = [(step, value)]
        if self.t.info.distributed:
            found = [None] * self.t.info.world_size
            torch.distributed.all_gather_object(found, (step, value), group=self.t.control)
        bad = [f for f in found if f[0] >= 0]
        if bad:
            step, value = min(bad, key=lambda f: (f[0], math.isfinite(f[1])))  # the bad loss itself first
            where = self.wheres[int(step)]
            if math.isfinite(value):  # this process's loss was finite, another one's was not
                raise RunFailed(f"non-finite training loss (on another process) at {where}")
            raise RunFailed(f"non-finite training loss ({value}) at {where}")
        self.wheres.clear()


def _nonfinite(t: StepParts, loss: torch.Tensor) -> torch.Tensor:
    """1.0 on the device when the loss of any process is not finite (then every gradient is: DDP
    sums them). Processes agree with a device-side all-reduce of the flag, which the host never
    reads; a gradient that overflows under a finite loss shows as a non-finite loss a step later."""
    found = (~torch.isfinite(loss.detach())).float().reshape(())
    if t.info.distributed:
        torch.distributed.all_reduce(found, op=torch.distributed.ReduceOp.MAX)
    return found


def _forward_loss(t: StepParts, module: nn.Module, video: torch.Tensor, label: torch.Tensor, reduction="mean"):
    with autocast(t.cfg.amp, t.device):
        logits = module(video)
        return logits, nn.functional.cross_entropy(logits.float(), label, reduction=reduction)


def _uneven_backward(t: StepParts, video: torch.Tensor, label: torch.Tensor, total: int):
    """This process's share of the mean loss over all ``total`` good samples, back-propagated
    through the bare model (DDP's hooks would average over the processes, some without samples),
    then the gradients summed over the processes. Returns the logits and this process's mean loss."""
    logits, mean = None, torch.zeros((), device=t.device)
    if label.shape[0]:
        logits, per_sample = _forward_loss(t, t.model, video, label, reduction="none")
        mean = per_sample.mean()
        t.scaler.scale(per_sample.sum() / total).backward()
    for p in t.model.parameters():
        if p.requires_grad:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            torch.distributed.all_reduce(p.grad)
    return logits, mean


def _step(t: StepParts, loss: torch.Tensor, watch: FiniteWatch, where: str) -> None:
    """The optimiser step, skipped on the device when the loss is not finite. With GradScaler
    (fp16) the scaler passes its own flag (inf gradients: it skips the step and lowers the scale)."""
    found = _nonfinite(t, loss)
    watch.note(found > 0, loss, where)
    if t.scaler.is_enabled():
        t.scaler.step(t.optimizer)
        t.scaler.update()
        return
    t.optimizer.found_inf = found
    try:
        t.optimizer.step()
    finally:
        del t.optimizer.found_inf


def train_step(t: Training, batch: dict, meter: EpochMeter, where: str, counts: list[int] | None = None,
               watch: FiniteWatch | None = None) -> None:
    """:func:`train_on` a loader's batch: its clips go to the device (normalised there) in the
    model's memory format."""
    video = t.model_format(t.loader.model_input(batch["video"], t.device))
    label = batch["label"].to(t.device, non_blocking=True)
    train_on(t, video, label, meter, where, counts, watch, skipped=int(batch.get("skipped", 0)))


def train_on(t: StepParts, video: torch.Tensor, label: torch.Tensor, meter: EpochMeter, where: str,
             counts: list[int] | None = None, watch: FiniteWatch | None = None, skipped: int = 0) -> None:
    """The training step: forward, backward, (clip), the optimiser step unless the step is not
    finite; the batch's loss and accuracy go to ``meter`` (``skipped``: its bad samples).

    ``video``/``label``: the batch on the device, in the model's memory format. ``counts``: every
    process's number of good samples in this step; when they differ, the uneven step of the module
    doc (a process may then have none). ``watch``: where a non-finite step is noted for the next
    check; without one, this step is checked at once.
    """
    t.optimizer.zero_grad(set_to_none=True)
    if counts is not None and len(set(counts)) > 1:
        logits, loss = _uneven_backward(t, video, label, sum(counts))
    else:
        logits, loss = _forward_loss(t, t.train_model, video, label)
        t.scaler.scale(loss).backward()
    if t.cfg.optim.grad_clip:
        t.scaler.unscale_(t.optimizer)
        nn.utils.clip_grad_norm_(t.model.parameters(), t.cfg.optim.grad_clip)
    loss_value = loss.detach().float()
    checked = watch or FiniteWatch(t)
    _step(t, loss_value, checked, where)
    if watch is None:
        checked.check()
    if logits is None:  # this process had no good sample
        meter.skipped += skipped
    else:
        meter.add_batch(loss_value, logits, label, skipped)


def train_epoch(t: Training, epoch: int, start_batch: int, meter: EpochMeter, stop_requested: Callable[[], bool],
                preempt: Callable[[int, float], None]) -> float:
    """Batches ``start_batch..steps`` of ``epoch`` into ``meter``; returns the epoch's time in seconds.

    When any process has ``stop_requested()``, calls ``preempt(batch_index, seconds_so_far)``
    before the next step (it checkpoints and raises). ``meter.seconds`` gains the time spent.
    Between log intervals nothing is read from the device.
    """
    cfg, info = t.cfg, t.info
    t.loader.set_epoch(epoch, start_batch)
    t.train_model.train()
    t0 = time.time()
    bar = progress_bar(t.steps - start_batch, f"epoch {epoch + 1}/{cfg.epochs}", info.is_main)
    batch_idx, watch = start_batch, FiniteWatch(t)
    try:
        for batch in t.loader if start_batch < t.steps else ():  # all done: a validation was cut short
            if batch_idx >= t.steps:
                break
            stop, counts = _agree(t, stop_requested(), int(batch["label"].shape[0]))
            if stop:
                watch.check()  # a checkpoint never holds the weights after a non-finite step
                if bar is not None:
                    bar.close()
                    bar = None
                meter.seconds += time.time() - t0
                preempt(batch_idx, time.time() - t0)
            if not any(counts) or (0 in counts and _has_sync_bn(t.model)):
                meter.skipped += int(batch.get("skipped", 0))
                batch_idx += 1
                continue
            train_step(t, batch, meter, f"epoch {epoch + 1}, batch {batch_idx + 1}", counts, watch)
            batch_idx += 1
            if bar is not None:
                bar.update(1)
            if batch_idx % cfg.log_every == 0:
                watch.check()
                _report(t, bar, meter, epoch, batch_idx, t0)
        watch.check()
    finally:
        if bar is not None:
            bar.close()
    seconds = time.time() - t0
    meter.seconds += seconds
    return seconds


def _report(t: Training, bar, meter: EpochMeter, epoch: int, batch_idx: int, t0: float) -> None:
    """A log interval (main process): the progress bar's figures or a log line, and the live loggers."""
    if not t.info.is_main:
        return
    rate = meter.clips * t.info.world_size / max(time.time() - t0, 1e-9)  # this session's part of the epoch
    loss, top1 = meter.read().loss, meter.top1
    if bar is not None:
        bar.set_postfix(loss=f"{loss:.3f}", acc=f"{top1:.1f}", clips_s=f"{rate:.1f}")
    else:
        log.info("epoch %d batch %d/%d loss %.4f acc %.2f", epoch + 1, batch_idx, t.steps, loss, top1)
    t.loggers.log_step(epoch * t.steps + batch_idx, {"train_loss": loss, "train_top1": top1,
                                                     "lr": t.optimizer.param_groups[0]["lr"], "clips_per_s": rate})
