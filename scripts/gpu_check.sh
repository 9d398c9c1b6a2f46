#!/usr/bin/env bash
# GPU check kit: the tests marked gpu (AMP fp16/bf16 steps, channels-last, cudnn autotuning, no sync
# between log intervals, bench --max-batch, 2-GPU NCCL DDP with SyncBatchNorm when there are two),
# then paper Table 8's models benched on the GPU at their largest batch (32 frames at 256 px, the setting
# of Table 8's FLOPs, AMP fp16; TSM added beside TAM).
# Prints one table: every check and every model. Exits non-zero if any step fails, times out or
# finds no GPU; each stage is time-limited so the whole kit stays under 10 minutes.
#
#   bash scripts/gpu_check.sh            # SIZE=256 TEST_LIMIT=300 BENCH_LIMIT=270 to change them
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-256}
TEST_LIMIT=${TEST_LIMIT:-300}
BENCH_LIMIT=${BENCH_LIMIT:-270}
MODELS="TSN-ResNet50-tp-f32 TAM-ResNet50-f32 TSM-ResNet50-f32 I3D-ResNet50-f32 SlowFast8x8-ResNet50-f32"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: no CUDA device: nothing to check')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

status=0
echo "gpu_check: tests marked gpu (limit ${TEST_LIMIT}s)" >&2
timeout "$TEST_LIMIT" python -m pytest -m gpu -q -rA -p no:cacheprovider tests/test_gpu.py \
    --junitxml="$OUT/tests.xml" >"$OUT/tests.log" 2>&1 || { status=1; tail -n 60 "$OUT/tests.log" >&2; }
echo "gpu_check: stbench bench --max-batch of Table 8's models at ${SIZE}px (limit ${BENCH_LIMIT}s)" >&2
# shellcheck disable=SC2086
timeout "$BENCH_LIMIT" stbench bench $MODELS --device cuda --max-batch --amp fp16 --size "$SIZE" \
    --mode both --repeats 3 --warmup 1 --format table --out "$OUT/bench.json" >"$OUT/bench.log" 2>&1 \
    || { status=1; tail -n 40 "$OUT/bench.log" >&2; }

table=0
python - "$OUT" <<'EOF' || table=$?
import json, sys, xml.etree.ElementTree as ET
from pathlib import Path
out = Path(sys.argv[1])
rows, bad = [], 0
if (out / "tests.xml").is_file():
    for case in ET.parse(out / "tests.xml").iter("testcase"):
        kind = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        bad += kind in ("failure", "error")
        note = next((c.get("message", "") for c in case if c.tag == "skipped"), "")
        rows.append(("test", case.get("name"), kind, f"{float(case.get('time', 0)):.1f} s", note[:60]))
else:
    rows.append(("test", "tests/test_gpu.py", "no report", "", "timed out or did not start"))
    bad += 1
if (out / "bench.json").is_file():
    for r in json.loads((out / "bench.json").read_text()):
        rows.append(("bench", r["model"], f"max batch {r.get('max_batch')}",
                     f"train {r['train_clips_per_s'] or 0:.1f} / infer {r['infer_clips_per_s'] or 0:.1f} clips/s",
                     f"latency {r['latency_ms'] or 0:.1f} ms, peak {r['peak_memory_mb']:.0f} MB"))
else:
    rows.append(("bench", "Table 8 models", "no result", "", "timed out or failed (log above)"))
    bad += 1
widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
for r in rows:
    print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
sys.exit(1 if bad else 0)
EOF
[ "$status" = 0 ] && [ "$table" = 0 ] || { echo "gpu_check: FAILED (see above)" >&2; exit 1; }
echo "gpu_check: all passed" >&2
