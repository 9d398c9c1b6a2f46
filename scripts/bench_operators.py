"""What the temporal operators cost on top of their backbone, measured side by side in one process
(paper 002's Table 8 point: TAM adds 0.4 % MACs to TSN-ResNet50, the official TAM ran at a quarter of
its speed).

    python scripts/bench_operators.py [--size 112] [--batch 2] [--frames 8] [--repeats 10] [--threads 2]
                                      [--compile] [--memory]

Trains TSN, TAM and TSM on ResNet-50 interleaved (``stbench bench``'s machinery, the engine's own
training step: round r of every model before round r+1 of any) and prints the training clips/s of
each, the TAM/TSN and TSM/TSN ratios of the medians (goals: >= 0.92 and >= 0.96) and the median of
the per-round ratios with its quartiles: a round's steps run back to back, so its ratio is the least
disturbed by a loaded machine. It changes no process-wide setting: the CPU allocator is what the
process was started with (the first line says which; README, "CPU allocator"). ``--compile``
measures the run option ``compile`` (Inductor fuses TAM's and TSM's memory passes); ``--memory``
times each step under ``stbench bench``'s CPU memory sampler.
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch

from benchmark.engine import host_allocator
from benchmark.engine.speed import BenchSettings, peak_memory, prepare, train_step

GOALS = {"TAM": 0.92, "TSM": 0.96}


def measure(models: list[str], settings: BenchSettings, memory: bool) -> dict[str, list[float]]:
    """Seconds per training step of each model, ``settings.repeats`` interleaved rounds after the warm-up."""
    benches = [prepare(name, settings) for name in models]
    seconds = {bench.name: [] for bench in benches}
    for round_ in range(settings.warmup + settings.repeats):
        for bench in benches:
            step = lambda b=bench: train_step(b, settings.batch, settings)  # noqa: E731
            took = peak_memory(step, settings.device)[0] if memory else step()
            if round_ >= settings.warmup:
                seconds[bench.name].append(took)
    return seconds


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="ResNet50")
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--compile", action="store_true", help="the run option compile (torch.compile)")
    parser.add_argument("--memory", action="store_true", help="time the steps under the CPU memory sampler")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = [f"{m}-{args.backbone}-f{args.frames}" for m in ("TSN", "TAM", "TSM")]
    settings = BenchSettings(device=args.device, batch=args.batch, size=args.size, mode="train",
                             repeats=args.repeats, warmup=2, num_classes=400, compile=args.compile)
    seconds = measure(models, settings, memory=args.memory)
    base = seconds[models[0]]
    print(f"{args.device}, {torch.get_num_threads()} threads, batch {args.batch}, {args.size}px, "
          f"{args.frames} frames, {args.repeats} interleaved training steps, "
          f"{'compiled, ' if args.compile else ''}{'with' if args.memory else 'without'} the memory sampler, "
          f"allocator {host_allocator.describe(args.device)} (load {os.getloadavg()[0]:.1f})")
    for name, steps in seconds.items():
        clips = [args.batch / s for s in steps]
        ratio = statistics.median(base) / statistics.median(steps)
        paired = [b / s for b, s in zip(base, steps)]
        low, high = quartiles(paired)
        module = name.split("-")[0]
        goal = f"  (goal >= {GOALS[module]:.2f}: {'met' if ratio >= GOALS[module] else 'NOT met'})" if module in GOALS else ""
        print(f"  {name:<18} {statistics.median(clips):6.2f} clips/s [{min(clips):.2f}..{max(clips):.2f}]  "
              f"{ratio:.3f} x TSN; per round {statistics.median(paired):.3f} [{low:.3f}..{high:.3f}]{goal}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
