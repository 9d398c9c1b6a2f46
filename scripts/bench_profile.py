"""Time profiling every configuration of the paper's mini grid (288 = 4 modules x 3 backbones x
tp off/on x 4 frame counts x 3 datasets) and check it against the official table.

    python scripts/bench_profile.py [--threads 1] [--csv results/reference/paper_mini_grid.csv]

Prints the wall time (the target is < 60 s on a 2-core CPU), the machine load, and every row whose
params or conv MACs differ from the table (the I3D-InceptionV1 rows are internally inconsistent in
the table itself, see tests of the 3D models).
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import torch

CLASSES = {"mini-ssv2": 87, "mini-kinetics": 200, "mini-mit": 200}
DEFAULT_CSV = Path(__file__).resolve().parents[1] / "results" / "reference" / "paper_mini_grid.csv"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    start, cpu_start = time.perf_counter(), time.process_time()
    from benchmark.models import profile_model  # the import (torchvision, plugins) is part of the cost

    with open(args.csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    mismatches = []
    for row in rows:
        got = profile_model(row["model"], CLASSES[row["dataset"]])
        if got["params"] != int(row["params"]) or got["macs_conv"] != int(row["flops"]):
            mismatches.append((row["dataset"], row["model"], got["params"], int(row["params"]),
                               got["macs_conv"], int(row["flops"])))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    load = os.getloadavg()
    # CPU time is what the run costs on an idle machine; wall time also counts waiting for the CPU.
    print(f"profiled {len(rows)} configurations in {elapsed:.1f} s wall, {cpu:.1f} s CPU "
          f"({os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f})")
    print(f"{len(rows) - len(mismatches)} match the table exactly (params and conv MACs)")
    for dataset, model, params, want_params, macs, want_macs in mismatches:
        print(f"  differs: {dataset} {model}: params {params} vs {want_params}, macs_conv {macs} vs {want_macs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
