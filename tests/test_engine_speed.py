"""``stbench bench``: the measurement machinery (not timing assertions: speeds are for scripts).

Models are the test-only TinyResNet (tests/plugins/stbench_tiny.py): the subject is the machinery,
not a network's size.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from benchmark.cli import main
from benchmark.engine import builders, epoch, protocol
from benchmark.engine.environment import environment
from benchmark.engine.speed import BenchSettings, bench_config, find_max_batch
from benchmark.errors import ConfigError

TSN, TAM, TSM = "TSN-TinyResNet-f4", "TAM-TinyResNet-f4", "TSM-TinyResNet-f4"


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
            "s = BenchSettings(size=112, num_classes=5, max_batch=True, memory_budget_mb=30)\n"
            f"b = prepare('{TSN}', s)\n"
            "train_step(b, 1, s)\n"
            "good, bad = find_max_batch(b, s)\n"
            "_, over = peak_memory(lambda: train_step(b, 3 * bad, s), 'cpu')\n"
            "print(good, bad, over)")
    done = run_fresh(code, timeout=300)
    good, bad, well_over = map(int, done.stdout.split())
    assert good >= 1 and bad == good + 1
    # Far from the boundary the answer is unambiguous (the boundary itself depends on the allocator).
    assert well_over > 30 * 2**20


def test_cli_json_has_the_documented_fields(capsys):
    assert main(["bench", TSN, TSM, "--size", "32", "--batch", "2", "--repeats", "2",
                 "--warmup", "1", "--classes", "5", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    env = environment(torch.device("cpu"), 1)  # the one environment record: what the speeds ran with
    assert [r["model"] for r in records] == [TSN, TSM]
    for r in records:
        for key in ("batch", "train_clips_per_s", "infer_clips_per_s", "latency_ms", "peak_memory_mb", "device",
                    "amp", "spread"):
            assert key in r
        spread = r["spread"]["train_clips_per_s"]
        assert spread["min"] <= r["train_clips_per_s"] == spread["median"] <= spread["max"]
        assert r["device"] == "cpu" and r["batch"] == 2 and r["peak_memory_mb"] > 0 and r["amp"] == "off"
        for key in ("torch", "temporal_kernels", "host_allocator"):
            assert r[key] == env[key]


def _count_engine_steps(monkeypatch) -> list:
    """Every call of the engine's training step, by the parts it stepped."""
    calls, real = [], epoch.train_on

    def counting(t, *args, **kwargs):
        calls.append(t)
        return real(t, *args, **kwargs)

    monkeypatch.setattr(epoch, "train_on", counting)
    return calls


def test_bench_train_mode_runs_the_engines_training_step(monkeypatch, capsys):
    """``--mode train`` times the step training runs, on parts built as training builds them from
    the run config's defaults: fused SGD at the protocol's rate, its GradScaler, the model in train mode."""
    calls = _count_engine_steps(monkeypatch)
    assert main(["bench", TSN, TAM, "--size", "32", "--repeats", "2", "--warmup", "1", "--classes", "5",
                 "--mode", "train", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    # per model: a warm-up, two timed steps and the memory step, interleaved (round r of each before r+1)
    assert calls[0] is not calls[1] and [id(t) for t in calls] == [id(calls[0]), id(calls[1])] * 4
    for t, record in zip(calls[:2], records, strict=True):
        assert t.cfg.model == record["model"] and t.cfg.batch_size == 2 and t.cfg.num_classes == 5
        group = t.optimizer.param_groups[0]
        assert type(t.optimizer) is torch.optim.SGD and group["fused"]
        assert (group["lr"], group["momentum"], group["weight_decay"]) == (
            protocol.BASE_LR, protocol.MOMENTUM, protocol.WEIGHT_DECAY)
        assert t.cfg.optim.grad_clip == bench_config(record["model"], BenchSettings()).optim.grad_clip
        assert isinstance(t.scaler, torch.amp.GradScaler) and not t.scaler.is_enabled()  # float32
        assert t.train_model.training and t.train_model is t.model  # no compile, no DDP


def test_bench_amp_is_the_run_configs(monkeypatch):
    """``--amp`` becomes the run config's ``amp``: the scaler is built from it as training builds it
    (fp16: enabled on CUDA) and the step's forward runs under the engine's autocast (bf16 on the CPU)."""
    from benchmark.engine.speed import prepare, train_step

    scalers = []
    monkeypatch.setattr(builders, "build_scaler", lambda cfg, device: scalers.append(cfg.amp) or
                        torch.amp.GradScaler("cuda", enabled=False))
    assert prepare(TSN, BenchSettings(amp="fp16", size=32, num_classes=5)).step.cfg.amp == "fp16"
    assert scalers == ["fp16"]
    assert bench_config(TSN, BenchSettings(amp="fp16", channels_last=True, compile=True)).channels_last

    calls = _count_engine_steps(monkeypatch)
    settings = BenchSettings(amp="bf16", size=32, num_classes=5)
    bench = prepare(TSN, settings)
    dtypes = []
    bench.step.model.register_forward_hook(lambda _m, _i, out: dtypes.append(out.dtype))
    train_step(bench, 2, settings)
    assert len(calls) == 1 and calls[0] is bench.step
    assert dtypes == [torch.bfloat16] and bench.step.amp == "bf16"


def test_bad_settings_are_one_line_errors(capsys):
    with pytest.raises(ConfigError, match="memory-budget"):
        BenchSettings(max_batch=True).check()
    assert main(["bench", TSN, "--max-batch"]) == 2
    assert "--memory-budget" in capsys.readouterr().err


def test_bench_records_join_accuracy_and_the_printed_table8_in_the_report(tmp_path, capsys):
    import pandas as pd
    from test_analysis_fixtures import make_run

    out = tmp_path / "bench.json"
    assert main(["bench", TSN, TAM, "--size", "32", "--repeats", "1", "--warmup", "1",
                 "--classes", "5", "--mode", "train", "--out", str(out), "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == printed
    runs = tmp_path / "runs"
    make_run(runs, TSN, "synthetic-temporal", top1=30.0)
    make_run(runs, TAM, "synthetic-temporal", top1=80.0)
    assert main(["report", str(runs), "--out", str(tmp_path / "report"), "--bench", str(out)]) == 0
    table = pd.read_csv(tmp_path / "report" / "tables" / "table8_measured.csv").set_index("model")
    assert table.loc[TAM, "top1"] == 80.0 and table.loc[TSN, "top1"] == 30.0
    assert table.loc[TAM, "train_clips_per_s"] == pytest.approx(printed[1]["train_clips_per_s"])
    assert table.loc[TSN, "train_vs_first"] == 1.0
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
    saved for its BatchNorm's backward, is 8 frames x 8 channels x 56 x 56 float32 = 0.77 MiB."""
    code = ("from benchmark.engine.speed import BenchSettings, run_bench\n"
            "s = BenchSettings(size=112, batch=2, mode='train', repeats=2, warmup=1, num_classes=5)\n"
            f"for r in run_bench([{TSN!r}, {TAM!r}, {TSM!r}], s):\n"
            "    print(r['peak_memory_mb'])")
    done = run_fresh(code, timeout=300)
    peaks = list(map(float, done.stdout.split()))
    assert len(peaks) == 3
    for peak in peaks:
        assert peak >= 8 * 8 * 56 * 56 * 4 / 2**20
