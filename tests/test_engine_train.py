"""End-to-end engine runs on a tiny real dataset (synthetic frame folders) with TSN on the test-only
TinyResNet (tests/plugins/stbench_tiny.py: what is tested is the engine, not the network's size).

Runs that receive signals (SIGKILL, SIGTERM) and DDP runs (torchrun, gloo) are subprocesses through
the ``stbench`` CLI, as a user or the launcher starts them; the rest runs in-process to save the
start-up time. Every run uses one thread, so in- and out-of-process runs compute bit-identically.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from benchmark.cli import main as stbench_main
from benchmark.data.synthetic import generate
from benchmark.engine import EXIT_REQUEUE, RunFailed, evaluate, load_run_config, run_state, train
from benchmark.engine.checkpoint import init_from_run
from benchmark.engine.metrics_jsonl import read_metrics
from benchmark.engine.schema import validate_metrics_line, validate_result
from benchmark.errors import ModelError
from benchmark.models import build_model

pytestmark = pytest.mark.slow

EPOCHS = 2
# Fields of a metrics line that depend on the wall clock, not on the computation.
TIMING = {"epoch_time_s", "clips_per_s", "time"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    # 16 training clips = 4 batches of 4 per epoch; 7 validation clips: odd, so 2 ranks need padding.
    generate("temporal", out, num_train=16, num_val=7, size=32, frames_per_video=8, seed=0, formats=("frames",))
    return out


def run_config(data_dir: Path, **overrides) -> dict:
    cfg = {
        "model": "TSN-TinyResNet-f4",
        "dataset": {"preset": "synthetic-temporal", "root": str(data_dir)},
        "pretrained": None,
        "epochs": EPOCHS,
        "batch_size": 4,
        "workers": 0,
        "deterministic": True,
        "log_every": 1,
        "eval": {"clips": 2, "crops": 1},
    }
    cfg.update(overrides)
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def stbench(*args: str, torchrun: int = 0, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "benchmark", *args]
    if torchrun:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={torchrun}",
               f"--master_port={port}", "--master_addr=127.0.0.1", "-m", "benchmark", *args]
    return subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=timeout)


def start_and_signal(config: Path, run_dir: Path, sig: int, marker: str) -> subprocess.Popen:
    """Start a training run, wait until ``marker`` appears in its log (mid-epoch), send ``sig``.

    Each forward pass of the test network sleeps 50 ms there (tests/plugins/stbench_tiny.py): a
    step lasts long enough for the signal to land inside the epoch, as with a real network."""
    proc = subprocess.Popen([sys.executable, "-m", "benchmark", "train", str(config), "--run-dir", str(run_dir)],
                            env={**env(), "STBENCH_TINY_DELAY_S": "0.05"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    log = run_dir / "log.txt"
    deadline = time.time() + 90
    while time.time() < deadline:
        if log.is_file() and marker in log.read_text():
            break
        if proc.poll() is not None:
            raise AssertionError(f"run ended before {marker!r}:\n{proc.stdout.read()}")
        time.sleep(0.01)
    else:
        proc.kill()
        raise AssertionError(f"{marker!r} never appeared in {log}")
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert not (run_dir / "result.json").exists(), "the run finished before the signal: test is void"
    return proc


def comparable(lines: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in TIMING} for m in lines]


def final_weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


def assert_same_run(a: Path, b: Path) -> None:
    assert comparable(read_metrics(a)) == comparable(read_metrics(b))
    wa, wb = final_weights(a), final_weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
    ra, rb = (json.loads((d / "result.json").read_text()) for d in (a, b))
    for key in ("top1", "top5", "video_top1", "video_top5", "best_epoch", "samples_skipped"):
        assert ra[key] == rb[key], key
    pa, pb = (np.load(d / "predictions.npz") for d in (a, b))
    assert np.array_equal(pa["scores"], pb["scores"])


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def reference_run(data_dir, tmp_path_factory) -> Path:
    """An uninterrupted run: the truth the interrupted ones must reproduce exactly."""
    base = tmp_path_factory.mktemp("reference")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(run_config(data_dir), base / "run")
    finally:
        torch.set_num_threads(previous)
    return base / "run"


def test_run_directory_records_match_schema(reference_run):
    assert run_state(reference_run)["state"] == "done"
    result = validate_result(json.loads((reference_run / "result.json").read_text()))
    assert result["model"] == "TSN-TinyResNet-f4" and result["frames"] == 4 and result["num_classes"] == 4
    params = sum(p.numel() for p in build_model("TSN-TinyResNet-f4", 4, pretrained=None).parameters())
    assert result["epochs"] == EPOCHS and result["params"] == params and result["macs_conv"] > 0
    assert result["environment"]["world_size"] == 1 and result["code_version"]["package"]
    assert result["environment"]["temporal_kernels"] == "torch"  # TAM/TSM as plain tensor ops
    metrics = read_metrics(reference_run)
    assert [m["epoch"] for m in metrics] == [1, 2]
    for line in metrics:
        validate_metrics_line(line)
        assert line["train_clips"] == 16 and line["val_clips"] == 7
    assert result["top1"] == max(m["val_top1"] for m in metrics)
    # The resolved config reproduces itself (every default filled in).
    cfg = load_run_config(reference_run / "config.yaml")
    assert cfg.epochs == EPOCHS and cfg.optim.momentum == 0.9 and cfg.schedule.name == "cosine"
    rows = (reference_run / "predictions.csv").read_text().splitlines()
    assert rows[0] == "index,video,label,pred,correct1,correct5"
    assert [int(r.split(",")[0]) for r in rows[1:]] == list(range(7))
    assert rows[1].split(",")[1] == "frames/val/val_00000"
    correct = sum(int(r.split(",")[4]) for r in rows[1:])
    assert result["video_top1"] == pytest.approx(100 * correct / 7)
    ckpt = torch.load(reference_run / "checkpoints" / "best.pt", weights_only=True)
    assert ckpt["epoch"] == result["best_epoch"]


def test_sigkill_mid_epoch_then_resume_is_exact(reference_run, data_dir, tmp_path):
    config = write_config(tmp_path / "run.yaml", run_config(data_dir))
    run_dir = tmp_path / "run"
    proc = start_and_signal(config, run_dir, signal.SIGKILL, "epoch 2 batch 2/")
    assert proc.returncode == -signal.SIGKILL
    assert run_state(run_dir)["state"] == "running"  # the files cannot know the process died
    assert [m["epoch"] for m in read_metrics(run_dir)] == [1]
    train(config, run_dir, resume="auto")
    assert "resumed from" in (run_dir / "log.txt").read_text()
    assert_same_run(reference_run, run_dir)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_checkpoints_mid_epoch_and_requeue_resumes_exactly(reference_run, data_dir, tmp_path, sig):
    """SIGTERM (pre-emption, requeue) and SIGINT (Ctrl-C) both checkpoint inside the epoch."""
    config = write_config(tmp_path / "run.yaml", run_config(data_dir))
    run_dir = tmp_path / "run"
    proc = start_and_signal(config, run_dir, sig, "epoch 2 batch 1/")
    assert proc.returncode == EXIT_REQUEUE
    state = run_state(run_dir)
    assert state["state"] == "pending" and sig.name in state["reason"]
    ckpt = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["state"]["epoch"] == 1 and 1 <= ckpt["state"]["batch"] < 4  # inside epoch 2
    train(config, run_dir)
    assert f"at epoch 2, batch {ckpt['state']['batch']}" in (run_dir / "log.txt").read_text()
    assert_same_run(reference_run, run_dir)
    # A finished run is not trained again: the existing result comes back untouched.
    stamp = (run_dir / "result.json").stat().st_mtime_ns
    assert train(config, run_dir)["top1"] == json.loads((run_dir / "result.json").read_text())["top1"]
    assert (run_dir / "result.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("model", ["TSN-TinyResNet-f4", "TSM-TinyResNet-f4"])  # TSM: blocks holding their input shifted
def test_ddp_two_processes_train_and_evaluate_like_one(reference_run, data_dir, tmp_path, model):
    config = write_config(tmp_path / "run.yaml", run_config(data_dir, epochs=1, model=model))
    ddp_dir = tmp_path / "ddp"
    proc = stbench("train", str(config), "--run-dir", str(ddp_dir), torchrun=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = validate_result(json.loads((ddp_dir / "result.json").read_text()))
    assert result["environment"]["world_size"] == 2
    assert read_metrics(ddp_dir)[0]["train_clips"] == 16 and read_metrics(ddp_dir)[0]["val_clips"] == 7
    # Its final video-level evaluation ran on 2 processes (the sampler padded 7 videos to 8); the same
    # model evaluated by 1 process must give the same per-video scores, each video counted once.
    p2 = dict(np.load(ddp_dir / "predictions.npz"))
    r1 = evaluate(ddp_dir, clips=2)
    p1 = np.load(ddp_dir / "predictions-c2x1.npz")
    assert r1["videos"] == 7 and len((ddp_dir / "predictions.csv").read_text().splitlines()) == 1 + 7
    assert p2["index"].tolist() == p1["index"].tolist() == list(range(7))
    assert np.allclose(p2["scores"], p1["scores"], atol=1e-4)
    assert result["video_top1"] == r1["top1"] and result["video_top5"] == r1["top5"]
    # Clip-level validation inside DDP training agrees with a 1-process evaluation as well.
    assert evaluate(ddp_dir, clips=1)["top1"] == result["top1"]
    assert json.loads((ddp_dir / "test-c2x1.json").read_text())["top1"] == r1["top1"]


def test_progressive_f8_to_f16_loads_weights_and_names_mismatches(data_dir, tmp_path):
    # A short TAM f8 run (TAM has weights of its own), then f16 initialised from it.
    short = {"epochs": 1, "max_steps_per_epoch": 1, "eval": {"video_level": False}}
    train(run_config(data_dir, model="TAM-TinyResNet-f8", **short), tmp_path / "f8")
    best = torch.load(tmp_path / "f8" / "checkpoints" / "best.pt", weights_only=True)["model"]
    assert set(best) - set(build_model("TSN-TinyResNet-f8", 4).state_dict())  # TAM's own weights are in it
    f16 = build_model("TAM-TinyResNet-f16", 4, pretrained=None)
    assert any(not torch.equal(v, best[k]) for k, v in f16.state_dict().items())  # random init differs
    init_from_run(f16, tmp_path / "f8")
    for key, value in f16.state_dict().items():
        assert torch.equal(value, best[key]), key
    # Through the engine: the f16 run starts from those weights (a vanishing lr keeps them).
    cfg = run_config(data_dir, model="TAM-TinyResNet-f16", init_from=str(tmp_path / "f8"), **short,
                     optim={"lr": 1e-12, "momentum": 0.0, "weight_decay": 0.0})
    assert load_run_config(cfg).pretrained is None  # "auto": no ImageNet when init_from is set
    train(cfg, tmp_path / "f16")
    trained = torch.load(tmp_path / "f16" / "checkpoints" / "last.pt", weights_only=True)["model"]
    for key, _ in f16.named_parameters():
        assert torch.allclose(trained[key], best[key], atol=1e-6), key
    # Another network (TSN lacks TAM's weights) is an error naming the parameters; another class
    # count only replaces the classifier (fine-tuning: tests/test_transfer_protocol.py).
    bad = run_config(data_dir, model="TSN-TinyResNet-f16", init_from=str(tmp_path / "f8"), num_classes=5)
    with pytest.raises(ModelError, match=r"\(a TAM-TinyResNet-f8 run\): checkpoint does not match the model"):
        train(bad, tmp_path / "bad")
    state = run_state(tmp_path / "bad")
    assert state["state"] == "failed" and "does not match the model" in state["reason"]


def test_non_finite_loss_fails_the_run_with_reason(data_dir, tmp_path):
    cfg = run_config(data_dir, epochs=1, optim={"lr": 1e30})
    with pytest.raises(RunFailed, match="non-finite training loss"):
        train(cfg, tmp_path / "nan")
    state = run_state(tmp_path / "nan")
    assert state["state"] == "failed" and "non-finite training loss" in state["reason"]
    assert not (tmp_path / "nan" / "result.json").exists()


def test_cli_rejects_config_typos(data_dir, tmp_path, capsys):
    cfg = run_config(data_dir)
    cfg["optim"] = {"momentun": 0.8}
    config = write_config(tmp_path / "typo.yaml", cfg)
    assert stbench_main(["train", str(config), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "typo.yaml" in err and "unknown key 'momentun'" in err and "momentum" in err
    assert not (tmp_path / "run").exists()
    # Command-line overrides reach the config, and are checked just as strictly.
    assert stbench_main(["train", str(write_config(tmp_path / "ok.yaml", run_config(data_dir))),
                         "--set", "optim.nesterof=true", "--run-dir", str(tmp_path / "run")]) == 2
    assert "unknown key 'nesterof'" in capsys.readouterr().err


def test_bad_samples_are_skipped_and_counted(data_dir, tmp_path):
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy)
    shutil.rmtree(copy / "frames" / "train" / "train_00003")  # one training video's frames are gone
    for jpg in (copy / "frames" / "val" / "val_00002").glob("*.jpg"):
        jpg.write_bytes(b"not a jpeg")  # one validation video is corrupt
    dataset = {"preset": "synthetic-temporal", "root": str(copy), "on_bad_sample": "skip"}
    result = train(run_config(data_dir, dataset=dataset, epochs=2), tmp_path / "run")
    lines = read_metrics(tmp_path / "run")
    assert [(x["train_clips"], x["val_clips"]) for x in lines] == [(15, 6), (15, 6)]
    assert [x["samples_skipped"] for x in lines] == [2, 2]  # each epoch: one in training, one in validation
    # the run: two bad samples, although they were skipped in both epochs and in the final evaluation
    assert result["samples_skipped"] == 2
    assert [int(r.split(",")[0]) for r in (tmp_path / "run" / "predictions.csv").read_text().splitlines()[1:]] == [
        0, 1, 3, 4, 5, 6]
