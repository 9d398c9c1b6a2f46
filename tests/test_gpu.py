"""GPU checks (marked ``gpu``; skipped without CUDA): AMP fp16 and bf16 training steps, channels-last,
cudnn autotuning, no host sync between log intervals on the device, ``stbench bench --max-batch``
of Table 8's models and, with two GPUs or more, a 2-process NCCL DDP run with SyncBatchNorm.

``scripts/gpu_check.sh`` runs these and the Table 8 bench and prints one table.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import yaml

from benchmark.cli import main as stbench_main
from benchmark.data.synthetic import generate
from benchmark.engine.builders import RunInputs, build_training, determinism
from benchmark.engine.distributed import DistInfo
from benchmark.engine.epoch import set_epoch_lr, train_epoch, train_step
from benchmark.engine.meters import EpochMeter
from benchmark.engine.run_config import load_run_config

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

TABLE8 = ["TSN-ResNet50-tp-f8", "TAM-ResNet50-f8", "I3D-ResNet50-f8", "SlowFast8x8-ResNet50-f32"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    generate("temporal", out, num_train=16, num_val=4, size=64, frames_per_video=8, seed=0, formats=("frames",))
    return out


def config(data_dir: Path, **over) -> dict:
    return {"model": "TSN-ResNet18-f4", "dataset": {"preset": "synthetic-temporal", "root": str(data_dir)},
            "pretrained": None, "epochs": 1, "batch_size": 2, "workers": 0, "device": "cuda", "dropout": 0.0,
            "eval": {"video_level": False}, **over}


def training(data_dir: Path, **over):
    cfg = load_run_config(config(data_dir, **over))
    return build_training(cfg, RunInputs.of(cfg), DistInfo(), torch.device("cuda", 0))


def one_step(t) -> tuple[torch.Tensor, dict]:
    """A step on the first batch; returns its logits' dtype witness and the weights before it."""
    seen = []
    conv = next(m for m in t.model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Conv3d))
    hook = conv.register_forward_hook(lambda m, i, o: seen.append(o))
    before = {k: v.detach().clone() for k, v in t.model.named_parameters()}
    set_epoch_lr(t, 0)
    meter = EpochMeter()
    train_step(t, next(iter(t.loader)), meter, "a step")
    hook.remove()
    assert meter.clips == 2 and torch.isfinite(torch.tensor(meter.loss))
    return seen[0], before


@pytest.mark.parametrize("amp, dtype, scaled", [("fp16", torch.float16, True), ("bf16", torch.bfloat16, False)])
def test_amp_training_step(data_dir, amp, dtype, scaled):
    t = training(data_dir, amp=amp)
    assert t.amp == amp and t.scaler.is_enabled() == scaled
    out, before = one_step(t)
    assert out.dtype == dtype
    if not scaled:  # fp16's first step may overflow at GradScaler's first scale and be skipped
        assert any(not torch.equal(v, before[k]) for k, v in t.model.named_parameters())


def test_channels_last_step_matches_contiguous(data_dir):
    t, plain = training(data_dir, channels_last=True, amp="off"), training(data_dir, amp="off")
    conv = next(m for m in t.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    out, _ = one_step(t)
    assert out.is_contiguous(memory_format=torch.channels_last)
    one_step(plain)
    for (name, a), b in zip(t.model.state_dict().items(), plain.model.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-2, atol=1e-3), name
    t3 = training(data_dir, model="I3D-ResNet18-f4", channels_last=True)
    out3, _ = one_step(t3)
    assert t3.clips_last_3d and out3.is_contiguous(memory_format=torch.channels_last_3d)


def test_cudnn_benchmark_follows_the_config(data_dir):
    saved = torch.backends.cudnn.benchmark
    cfg = load_run_config(config(data_dir))
    with determinism(cfg, torch.device("cuda", 0)):
        assert torch.backends.cudnn.benchmark is True
        one_step(training(data_dir))
    with determinism(load_run_config(config(data_dir, deterministic=True)), torch.device("cuda", 0)):
        assert torch.backends.cudnn.benchmark is False and torch.backends.cudnn.deterministic
    assert torch.backends.cudnn.benchmark == saved


def test_no_device_sync_between_log_intervals(data_dir):
    """CUDA's sync debug mode warns on every synchronising call, including those inside C++
    (GradScaler, the optimiser): none between log intervals, after a first interval of warm-up."""
    t = training(data_dir, amp="fp16", log_every=4)
    per_step: list[int] = []
    loader = t.loader

    class Marked:
        def __getattr__(self, name):
            return getattr(loader, name)

        def __iter__(self):
            it = iter(loader)
            while True:
                torch.cuda.set_sync_debug_mode(0)  # the loader's pinning is not the step's
                try:
                    batch = next(it)
                except StopIteration:
                    return
                finally:
                    torch.cuda.set_sync_debug_mode(1)
                per_step.append(sum("synchroniz" in str(w.message) for w in caught))
                yield batch

    t.loader = Marked()
    set_epoch_lr(t, 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode(1)
        try:
            train_epoch(t, 0, 0, EpochMeter(), lambda: False, lambda *a: None)
        finally:
            torch.cuda.set_sync_debug_mode(0)
    syncs = [str(w.message) for w in caught if "synchroniz" in str(w.message)]
    counts = [b - a for a, b in zip(per_step, per_step[1:])]  # sync warnings during steps 1..7
    assert len(counts) == 7, per_step
    for step in (5, 6, 7):  # the second interval, before its log step
        assert counts[step - 1] == 0, f"step {step} synchronised: {syncs}"


def test_bench_max_batch_of_table8_models(capsys):
    code = stbench_main(["bench", *TABLE8, "--device", "cuda", "--max-batch", "--size", "64", "--amp", "fp16",
                         "--mode", "train", "--repeats", "1", "--warmup", "1", "--format", "json"])
    assert code == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in records] == TABLE8
    for r in records:
        assert r["max_batch"] >= 1 and r["train_clips_per_s"] > 0 and r["peak_memory_mb"] > 0, r


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_two_process_nccl_ddp_with_sync_bn(data_dir, tmp_path):
    cfg = config(data_dir, batch_size=4, sync_bn=True, max_steps_per_epoch=2)
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0,1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           f"--master_port={port}", "--master_addr=127.0.0.1", "-m", "benchmark", "train",
                           str(path), "--run-dir", str(tmp_path / "run")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["environment"]["world_size"] == 2 and result["config"]["sync_bn"] is True
    assert "sync_bn ignored" not in (tmp_path / "run" / "log.txt").read_text()
