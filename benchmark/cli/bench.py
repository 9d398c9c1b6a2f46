"""``stbench bench``: measured training/inference speed, latency and memory (paper Table 8)."""

from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="measure train/inference clips/s, latency and peak memory of models side by side",
        description="Measure models interleaved in one process (ratios hold on a noisy machine); warm-up "
                    "steps are not timed. A training step is the engine's own, on the run config's "
                    "defaults. CUDA memory: allocator peak; CPU: peak resident growth.")
    p.add_argument("models", nargs="+", metavar="MODEL", help="model names, e.g. TAM-ResNet50-f8")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--batch", type=int, default=2, help="clips per step (default 2)")
    p.add_argument("--max-batch", action="store_true", help="also find the largest training batch that fits")
    p.add_argument("--memory-budget", type=float, metavar="MB", help="CPU --max-batch: the memory that must suffice")
    p.add_argument("--size", type=int, default=112, help="frame size in pixels (default 112)")
    p.add_argument("--mode", choices=["train", "infer", "both"], default="both")
    p.add_argument("--amp", choices=["off", "fp16", "bf16"], default="off",
                   help="the run config's amp (fp16 runs float32 on the CPU, as training does)")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile each model first")
    p.add_argument("--repeats", type=int, default=5, help="timed steps per model (default 5)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per model first (default 2)")
    p.add_argument("--classes", type=int, default=400, help="classifier size (default 400)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--out", metavar="FILE", help="also write the records as JSON (for 'stbench report --bench FILE')")
    p.set_defaults(func=_bench)


def _bench(args) -> int:
    from benchmark.engine.speed import BenchSettings, run_bench

    settings = BenchSettings(device=args.device, batch=args.batch, size=args.size, mode=args.mode, amp=args.amp,
                             channels_last=args.channels_last, compile=args.compile, repeats=args.repeats,
                             warmup=args.warmup, num_classes=args.classes, max_batch=args.max_batch,
                             memory_budget_mb=args.memory_budget)
    records = run_bench(args.models, settings)
    if args.out:
        from benchmark.engine.atomic_io import write_bytes_atomic

        write_bytes_atomic(args.out, (json.dumps(records, indent=1) + "\n").encode())
    if args.format == "json":
        print(json.dumps(records, indent=1))
    elif args.format == "csv":
        import pandas as pd

        pd.json_normalize(records).to_csv(sys.stdout, index=False)
    else:
        print(_table(records))
    return 0


def _table(records: list[dict]) -> str:
    base = records[0]["train_clips_per_s"] or records[0]["infer_clips_per_s"]
    head = f"{'model':<28} {'train clips/s':>13} {'infer clips/s':>13} {'latency ms':>10} {'peak MB':>8} {'vs first':>8}"
    lines = [head]
    for r in records:
        rate = r["train_clips_per_s"] or r["infer_clips_per_s"]
        extra = f"  max batch {r['max_batch']}" if "max_batch" in r else ""
        lines.append(f"{r['model']:<28} {_num(r['train_clips_per_s']):>13} {_num(r['infer_clips_per_s']):>13} "
                     f"{_num(r['latency_ms']):>10} {_num(r['peak_memory_mb'], 0):>8} {rate / base:>7.2f}x{extra}")
    first = records[0]
    lines.append(f"device {first['device']}, batch {first['batch']}, {first['size']}px, amp {first['amp']}, "
                 f"median of {first['repeats']} steps")
    return "\n".join(lines)


def _num(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
