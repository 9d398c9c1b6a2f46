"""What the temporal operators cost on top of their backbone, measured side by side in one process
(paper 002's Table 8 point: TAM adds 0.4 % MACs to TSN-ResNet50, the official TAM ran at a quarter of
its speed).

    python scripts/bench_operators.py [--size 112] [--batch 2] [--frames 8] [--repeats 10] [--threads 2]

Trains TSN, TAM and TSM on ResNet-50 interleaved (``stbench bench``'s machinery) and prints the
training clips/s of each and the TAM/TSN and TSM/TSN ratios (goals: >= 0.92 and >= 0.97).
"""

from __future__ import annotations

import argparse
import os

import torch

from benchmark.engine.speed import BenchSettings, run_bench

GOALS = {"TAM": 0.92, "TSM": 0.97}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="ResNet50")
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = [f"{m}-{args.backbone}-f{args.frames}" for m in ("TSN", "TAM", "TSM")]
    settings = BenchSettings(device=args.device, batch=args.batch, size=args.size, mode="train",
                             repeats=args.repeats, warmup=2, num_classes=400)
    records = {r["model"].split("-")[0]: r for r in run_bench(models, settings)}
    base = records["TSN"]["train_clips_per_s"]
    print(f"{args.device}, {torch.get_num_threads()} threads, batch {args.batch}, {args.size}px, "
          f"{args.frames} frames, median of {args.repeats} training steps (load {os.getloadavg()[0]:.1f})")
    for module, record in records.items():
        ratio = record["train_clips_per_s"] / base
        spread = record["spread"]["train_clips_per_s"]
        goal = f"  (goal >= {GOALS[module]:.2f}: {'met' if ratio >= GOALS[module] else 'NOT met'})" if module in GOALS else ""
        print(f"  {record['model']:<20} {record['train_clips_per_s']:7.2f} clips/s "
              f"[{spread['min']:.2f}..{spread['max']:.2f}]  {ratio:.3f} x TSN{goal}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
