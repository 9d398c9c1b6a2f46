"""``stbench bench``: the measurement machinery (not timing assertions: speeds are for scripts)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmark.cli import main
from benchmark.engine.speed import BenchSettings, find_max_batch
from benchmark.errors import ConfigError
from benchmark.models import cpu_kernels


def run_fresh(code: str, timeout: int) -> subprocess.CompletedProcess:
    """``code`` in a fresh Python process (the heap a long-lived one holds would serve allocations unseen)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize("limit", [1, 2, 3, 37, 64, 100])
def test_max_batch_search_finds_the_boundary(limit):
    """Doubling then bisection against a known boundary, counting the trials it needs."""
    trials = []

    def fit(_bench, batch, _settings):
        trials.append(batch)
        return batch <= limit

    assert find_max_batch(None, BenchSettings(), fit) == (limit, limit + 1)
    assert len(trials) <= 2 * (limit.bit_length() + 1)


def test_max_batch_search_edges():
    assert find_max_batch(None, BenchSettings(), lambda *_: False) == (0, 1)
    assert find_max_batch(None, BenchSettings(batch_limit=16), lambda *_: True) == (16, None)


def test_peak_rss_sees_an_allocation():
    """In a fresh process: a long-lived one may serve the allocation from heap pages it already holds."""
    code = ("import torch; from benchmark.engine.speed import PeakRSS, peak_memory\n"
            "_, peak = peak_memory(lambda: float(torch.ones(64 * 2**20 // 4)[-1]), 'cpu')\n"
            "with PeakRSS() as watch: pass\n"
            "print(peak, watch.peak)")
    done = run_fresh(code, timeout=120)
    peak, idle = map(int, done.stdout.split())
    assert 60 * 2**20 <= peak <= 200 * 2**20  # 64 MiB touched
    assert idle < 16 * 2**20


def test_max_batch_on_the_cpu_respects_the_memory_budget():
    """In a fresh process, as ``stbench bench`` runs (see test_peak_rss_sees_an_allocation)."""
    code = ("from benchmark.engine.speed import *\n"
            "s = BenchSettings(size=32, num_classes=5, max_batch=True, memory_budget_mb=60)\n"
            "b = prepare('TSN-ResNet18-f2', s)\n"
            "train_step(b, 1, s)\n"
            "good, bad = find_max_batch(b, s)\n"
            "_, over = peak_memory(lambda: train_step(b, 3 * bad, s), 'cpu')\n"
            "print(good, bad, over)")
    done = run_fresh(code, timeout=300)
    good, bad, well_over = map(int, done.stdout.split())
    assert good >= 1 and bad == good + 1
    # Far from the boundary the answer is unambiguous (the boundary itself depends on the allocator).
    assert well_over > 60 * 2**20


def test_cli_json_has_the_documented_fields(capsys):
    assert main(["bench", "TSN-ResNet18-f2", "TSM-ResNet18-f2", "--size", "32", "--batch", "2", "--repeats", "2",
                 "--warmup", "1", "--classes", "5", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in records] == ["TSN-ResNet18-f2", "TSM-ResNet18-f2"]
    for r in records:
        for key in ("batch", "train_clips_per_s", "infer_clips_per_s", "latency_ms", "peak_memory_mb", "device",
                    "amp", "spread"):
            assert key in r
        spread = r["spread"]["train_clips_per_s"]
        assert spread["min"] <= r["train_clips_per_s"] == spread["median"] <= spread["max"]
        assert r["device"] == "cpu" and r["batch"] == 2 and r["peak_memory_mb"] > 0
        assert r["temporal_kernels"] == cpu_kernels.describe("cpu")  # which TAM/TSM kernels were measured


def test_bad_settings_are_one_line_errors(capsys):
    with pytest.raises(ConfigError, match="memory-budget"):
        BenchSettings(max_batch=True).check()
    assert main(["bench", "TSN-ResNet18-f2", "--max-batch"]) == 2
    assert "--memory-budget" in capsys.readouterr().err


def test_bench_records_join_accuracy_and_the_printed_table8_in_the_report(tmp_path, capsys):
    import pandas as pd
    from test_analysis_fixtures import make_run

    out = tmp_path / "bench.json"
    assert main(["bench", "TSN-ResNet18-f2", "TAM-ResNet18-f2", "--size", "32", "--repeats", "1", "--warmup", "1",
                 "--classes", "5", "--mode", "train", "--out", str(out), "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == printed
    runs = tmp_path / "runs"
    make_run(runs, "TSN-ResNet18-f2", "synthetic-temporal", top1=30.0)
    make_run(runs, "TAM-ResNet18-f2", "synthetic-temporal", top1=80.0)
    assert main(["report", str(runs), "--out", str(tmp_path / "report"), "--bench", str(out)]) == 0
    table = pd.read_csv(tmp_path / "report" / "tables" / "table8_measured.csv").set_index("model")
    assert table.loc["TAM-ResNet18-f2", "top1"] == 80.0 and table.loc["TSN-ResNet18-f2", "top1"] == 30.0
    assert table.loc["TAM-ResNet18-f2", "train_clips_per_s"] == pytest.approx(printed[1]["train_clips_per_s"])
    assert table.loc["TSN-ResNet18-f2", "train_vs_first"] == 1.0
    assert (tmp_path / "report" / "figures" / "accuracy_vs_throughput.png").stat().st_size > 5000


def test_the_printed_table8_row_is_matched_by_name():
    import pandas as pd

    from benchmark.analysis.measured_cost import table8
    from benchmark.analysis.printed import load_printed, paper_model_name

    assert paper_model_name("TAM-ResNet50-f8") == "TAM-ResNet50"
    assert paper_model_name("TSN-ResNet50-tp-f32") == "TSN-ResNet50-tp"
    assert paper_model_name("SlowFast8x8-ResNet50-f32") == "SlowFast-ResNet50-8x8"  # Table 8's spelling
    bench = pd.DataFrame([{"model": "TAM-ResNet50-f8", "device": "cpu", "batch": 2, "size": 112,
                           "train_clips_per_s": 3.0}])
    row = table8(bench, pd.DataFrame(columns=["model", "top1"]), load_printed("table8")).iloc[0]
    assert (row["paper_clips_per_s"], row["paper_max_batch"], row["paper_top1"]) == (14.2, 48, 76.2)


def test_the_memory_figure_after_timed_steps_sees_the_step():
    """The timed steps leave freed memory in the heap; the memory steps after them must not be
    served from it unseen (all three read 0.0-0.1 MB once). Lower bound by hand: the stem's output,
    saved for its BatchNorm's backward, is 4 frames x 64 x 56 x 56 float32 = 3.1 MiB."""
    code = ("from benchmark.engine.speed import BenchSettings, run_bench\n"
            "s = BenchSettings(size=112, batch=2, mode='train', repeats=2, warmup=1, num_classes=5)\n"
            "for r in run_bench(['TSN-ResNet18-f2', 'TAM-ResNet18-f2', 'TSM-ResNet18-f2'], s):\n"
            "    print(r['peak_memory_mb'])")
    done = run_fresh(code, timeout=300)
    for peak in map(float, done.stdout.split()):
        assert peak >= 4 * 64 * 56 * 56 * 4 / 2**20
