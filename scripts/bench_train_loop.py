"""Training-step throughput of the engine's loop beside the loop it replaced, on CPU with a tiny model
(where per-step overhead weighs most), measured interleaved in one process; and the host reads per
step of each, counted.

The baseline keeps the former step here, as it was: the epoch sums read with ``.item()`` every step,
a ``bool(isfinite(loss))`` check every step, the default (unfused) SGD kernel and a progress-bar
read of the meter every step. The engine's step is ``benchmark.engine.epoch.train_step`` with its
device-side sums and finite check, read every ``--log-every`` steps. Both see the same batches
(kept in memory: the loader is not measured). Not a unit test: run it, quote the figures.

    python scripts/bench_train_loop.py [--model TSN-ResNet18-f2] [--size 32] [--batch 2]
                                       [--steps 40] [--rounds 5] [--log-every 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from benchmark.data.synthetic import generate
from benchmark.engine.builders import RunInputs, build_training
from benchmark.engine.distributed import DistInfo
from benchmark.engine.epoch import FiniteWatch, set_epoch_lr, train_step
from benchmark.engine.meters import EpochMeter
from benchmark.engine.run_config import load_run_config

HOST_READS = {"item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy", "cpu"}


class CountReads(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.n += getattr(func, "__name__", "") in HOST_READS
        return func(*args, **(kwargs or {}))


class OldLoop:
    """The former step and meter (kept as the baseline)."""

    def __init__(self, t):
        self.t, self.model = t, copy.deepcopy(t.model)
        c = t.cfg.optim
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=t.lr0, momentum=c.momentum,
                                         weight_decay=c.weight_decay, nesterov=c.nesterov)
        self.loss_sum = self.correct = self.clips = 0.0

    def step(self, batch: dict, index: int) -> None:
        t = self.t
        video = t.loader.model_input(batch["video"], t.device)
        label = batch["label"].to(t.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.model(video)
        loss = nn.functional.cross_entropy(logits.float(), label)
        t.scaler.scale(loss).backward()
        loss_value = loss.detach().float()
        agreed = torch.tensor([0.0 if bool(torch.isfinite(loss_value)) else 1.0], device=t.device)
        if bool(agreed[0] > 0):
            raise RuntimeError(f"non-finite loss at step {index}")
        t.scaler.step(self.optimizer)
        t.scaler.update()
        n = int(label.shape[0])
        self.loss_sum += loss_value.item() * n
        self.correct += (logits.detach().argmax(-1) == label).sum().item()
        self.clips += n
        _ = f"{self.loss_sum / self.clips:.3f} {100 * self.correct / self.clips:.1f}"  # the bar's postfix


class NewLoop:
    """The engine's step, read at log intervals as ``train_epoch`` does."""

    def __init__(self, t, log_every: int):
        self.t, self.log_every = t, log_every
        self.meter, self.watch = EpochMeter(), FiniteWatch(t)

    def step(self, batch: dict, index: int) -> None:
        train_step(self.t, batch, self.meter, f"step {index}", None, self.watch)
        if (index + 1) % self.log_every == 0:
            self.watch.check()
            _ = f"{self.meter.read().loss:.3f} {self.meter.top1:.1f}"


def timed(loop, batches: list[dict], steps: int) -> float:
    """Steps per second over ``steps`` steps."""
    start = time.perf_counter()
    for i in range(steps):
        loop.step(batches[i % len(batches)], i)
    return steps / (time.perf_counter() - start)


def reads_per_step(loop, batches: list[dict], steps: int) -> float:
    with CountReads() as counter:
        for i in range(steps):
            loop.step(batches[i % len(batches)], i)
    return counter.n / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="TSN-ResNet18-f2")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        generate("temporal", Path(tmp), num_train=4 * args.batch, num_val=2, size=args.size,
                 frames_per_video=8, seed=0, formats=("frames",))
        cfg = load_run_config({"model": args.model, "pretrained": None, "batch_size": args.batch, "workers": 0,
                               "device": "cpu", "dropout": 0.0, "log_every": args.log_every,
                               "dataset": {"preset": "synthetic-temporal", "root": tmp}})
        t = build_training(cfg, RunInputs.of(cfg), DistInfo(), torch.device("cpu"))
        set_epoch_lr(t, 0)
        batches = list(t.loader)
    old, new = OldLoop(t), NewLoop(t, args.log_every)
    for loop in (old, new):  # warm-up: allocations, optimiser state
        timed(loop, batches, 5)
    rates = {"old": [], "new": []}
    for r in range(args.rounds):  # interleaved, alternating which goes first
        for name in (("old", "new") if r % 2 == 0 else ("new", "old")):
            rates[name].append(timed(old if name == "old" else new, batches, args.steps))
    reads = {"old": reads_per_step(old, batches, args.log_every), "new": reads_per_step(new, batches, args.log_every)}
    print(f"{args.model}, {args.size}px, batch {args.batch}, CPU, {args.threads} thread(s), "
          f"{args.rounds} rounds x {args.steps} steps, log every {args.log_every}")
    print(f"{'loop':<6}{'steps/s min':>13}{'median':>10}{'max':>10}{'host reads/step':>18}")
    for name in ("old", "new"):
        v = rates[name]
        print(f"{name:<6}{min(v):>13.2f}{statistics.median(v):>10.2f}{max(v):>10.2f}{reads[name]:>18.2f}")
    ratio = statistics.median(rates["new"]) / statistics.median(rates["old"])
    print(f"new / old (median steps/s): {ratio:.3f}")


if __name__ == "__main__":
    main()
