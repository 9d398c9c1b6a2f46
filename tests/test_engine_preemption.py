"""Pre-emption at any moment (issue 15): SIGKILL at random moments of a launched run, SIGTERM during
the evaluations, and a DDP step where one process's batch is all bad.

The truth is always an uninterrupted run of the same config (or, for DDP, one process stepping on
the good samples only); every run uses one thread, so runs in and out of this process compute
bit-identically.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import TINY

from benchmark.data.synthetic import generate
from benchmark.engine import EXIT_REQUEUE, run_state, train
from benchmark.engine.metrics_jsonl import read_metrics

pytestmark = pytest.mark.slow

TIMING = {"epoch_time_s", "clips_per_s", "time"}


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def weights_digest(path: Path) -> str:
    """SHA-256 over a checkpoint's model tensors (names and bytes, in name order)."""
    state = torch.load(path, weights_only=True)["model"]
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def outcome(run_dir: Path) -> dict:
    """What an interrupted run must reproduce: weights, metrics without timing, the result's accuracies."""
    result = json.loads((run_dir / "result.json").read_text())
    return {
        "last": weights_digest(run_dir / "checkpoints" / "last.pt"),
        "best": weights_digest(run_dir / "checkpoints" / "best.pt"),
        "metrics": [{k: v for k, v in m.items() if k not in TIMING} for m in read_metrics(run_dir)],
        "result": {k: result[k] for k in ("top1", "top5", "video_top1", "video_top5", "best_epoch")},
        "scores": hashlib.sha256(np.load(run_dir / "predictions.npz")["scores"].tobytes()).hexdigest(),
    }


# --------------------------------------------------------------------------- SIGKILL, then launch again
MODEL = "TSN-TinyResNet-f4"
REFERENCES, TRIALS = ("ref0", "ref1"), tuple(f"kill{i}" for i in range(10))


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small")
    generate("temporal", out, num_train=4, num_val=4, size=32, frames_per_video=8, seed=0, formats=("frames",))
    return out


def experiment(data: Path, output: Path) -> Path:
    """One experiment of 12 identical runs: 2 epochs of 2 steps, validation each epoch, a 2-clip final
    test, on the same data under 12 names (the run ids ``<name>/TSN-TinyResNet-f4``; only the name
    differs in their configs): two uninterrupted references and ten trials. A launch takes one run
    (``--runs``), as a one-run experiment would; the relaunch takes every trial."""
    spec = {
        "name": "kill", "output": str(output),
        "datasets": [{"preset": "synthetic-temporal", "root": str(data), "name": name}
                     for name in (*REFERENCES, *TRIALS)],
        "axes": {"modules": ["TSN"], "backbones": [TINY], "frames": [4]},
        "run": {"pretrained": None, "device": "cpu", "workers": 0, "epochs": 2, "batch_size": 2,
                "deterministic": True, "log_every": 1, "eval": {"clips": 2, "crops": 1, "batch_size": 2}},
    }
    path = output.parent / f"{output.name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def launch(exp: Path, runs: str, delay: str = "0.1") -> subprocess.Popen:
    """``stbench launch exp --runs runs``, in a session of its own: a SIGKILL of its group takes the
    launch and its job together. Two launches go at once (two lanes): --parallel 2 gives each job
    one of the two cores (threads = cores // parallel; two 2-thread jobs on 2 cores make every small
    step wait for a busy core). Each forward pass of the test network sleeps ``delay`` seconds
    (tests/plugins/stbench_tiny.py): the run's training lasts a second or so of the launch, without
    taking CPU from the other lane."""
    return subprocess.Popen([sys.executable, "-m", "benchmark", "launch", str(exp), "--parallel", "2", "--runs", runs],
                            env={**env(), "STBENCH_TINY_DELAY_S": delay},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_sigkill_at_ten_random_moments_then_launch_ends_like_the_uninterrupted_run(small_data, tmp_path):
    """Each trial: launch its run, SIGKILL the launch and its job after a seeded random delay within
    the uninterrupted run's duration. Two trials run at a time (two lanes), and so do the two
    uninterrupted references, so the delays cover the same timeline. Then the experiment is
    launched again (every trial's run, two at a time) until done: each must end like a reference.

    The run itself is a short stretch of a launch (process starts and imports take most of it), so
    the even trials' moments are drawn from that stretch: they are counted from the trial's own
    ``state.json`` appearing, within the time the references took from theirs to ``result.json``
    (anchored to the trial's own start, since a loaded machine delays a launch's imports by
    seconds). The odd ones' moments are drawn from the whole launch, counted from the launch."""
    exp = experiment(small_data, tmp_path / "out")
    run_dirs = {name: tmp_path / "out" / name / MODEL for name in (*REFERENCES, *TRIALS)}

    def reference(name: str) -> tuple[float, float, float, dict]:
        run_dir = run_dirs[name]
        t0, started, finished = time.monotonic(), None, None
        proc = launch(exp, f"{name}/*")
        while proc.poll() is None:
            if started is None and (run_dir / "state.json").exists():
                started = time.monotonic() - t0
            if finished is None and (run_dir / "result.json").exists():
                finished = time.monotonic() - t0
            time.sleep(0.005)
        out = proc.communicate(timeout=60)[0]
        assert (run_dir / "result.json").is_file() and started is not None, out
        return started, finished or time.monotonic() - t0, time.monotonic() - t0, outcome(run_dir)

    def trial(name: str, delay: float, from_start: bool) -> str:
        proc = launch(exp, f"{name}/*")
        if from_start:
            while proc.poll() is None and not (run_dirs[name] / "state.json").exists():
                time.sleep(0.005)
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        state_file = run_dirs[name] / "state.json"
        return run_state(state_file.parent)["state"] if state_file.is_file() else "not started"

    with ThreadPoolExecutor(2) as lanes:
        (s0, f0, d0, truth), (s1, f1, d1, other) = lanes.map(reference, REFERENCES)
        assert other == truth  # two uninterrupted runs at the same time agree (the runs are deterministic)
        rng = random.Random(0)
        running, ended = min(f0 - s0, f1 - s1), (d0 + d1) / 2
        from_start = [i % 2 == 0 for i in range(len(TRIALS))]
        delays = [rng.uniform(0.0, running) if even else rng.uniform(0.0, ended) for even in from_start]
        killed_in = list(lanes.map(trial, TRIALS, delays, from_start))
    for _ in range(3):  # launch again until done (a relaunch resubmits every run it finds unfinished)
        out = launch(exp, "kill*/*", delay="0").communicate(timeout=600)[0]
        if all((run_dirs[name] / "result.json").is_file() for name in TRIALS):
            break
    else:
        raise AssertionError(f"the runs did not finish after 3 launches:\n{out}")
    for name, delay, state in zip(TRIALS, delays, killed_in, strict=True):
        assert outcome(run_dirs[name]) == truth, f"{name}: killed after {delay:.2f}s (state then: {state})"
    # Some moments fell inside the training (not all before it started or after it was done).
    assert "running" in killed_in, list(zip(delays, from_start, killed_in, strict=True))


# --------------------------------------------------------------------------- SIGTERM during evaluation
@pytest.fixture(scope="module")
def eval_data(tmp_path_factory) -> Path:
    """Many validation clips evaluated one by one: an evaluation long enough to be signalled."""
    out = tmp_path_factory.mktemp("evaldata")
    generate("temporal", out, num_train=4, num_val=40, size=32, frames_per_video=8, seed=0, formats=("frames",))
    return out


def eval_config(data: Path) -> dict:
    return {"model": "TSN-TinyResNet-f4", "dataset": {"preset": "synthetic-temporal", "root": str(data)},
            "pretrained": None, "epochs": 2, "batch_size": 2, "workers": 0, "deterministic": True,
            "log_every": 1, "eval": {"clips": 2, "crops": 1, "batch_size": 1}}


@pytest.fixture(scope="module")
def eval_reference(eval_data, tmp_path_factory) -> dict:
    run_dir = tmp_path_factory.mktemp("evalref") / "run"
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(eval_config(eval_data), run_dir)
    finally:
        torch.set_num_threads(previous)
    return outcome(run_dir)


def signal_at(config: Path, run_dir: Path, marker: str) -> tuple[subprocess.Popen, float, float]:
    """Start ``stbench train`` and SIGTERM it as soon as ``marker`` is logged. Returns the process
    and the seconds from the signal until the run was checkpointed (its state ``pending``, written
    after ``last.pt``) and until the process had exited."""
    # each forward pass of the test network sleeps 20 ms: the evaluations last a second or so
    proc = subprocess.Popen([sys.executable, "-m", "benchmark", "train", str(config), "--run-dir", str(run_dir)],
                            env={**env(), "STBENCH_TINY_DELAY_S": "0.02"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    log = run_dir / "log.txt"
    deadline = time.time() + 120
    while marker not in (log.read_text() if log.is_file() else ""):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise AssertionError(f"{marker!r} never appeared:\n{proc.communicate()[0]}")
        time.sleep(0.005)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    checkpointed = None
    while proc.poll() is None or checkpointed is None:
        if checkpointed is None and '"pending"' in _text(run_dir / "state.json"):
            checkpointed = time.monotonic() - sent
        elif proc.poll() is not None:  # ended without a pending state: the assertions below say how
            checkpointed = float("inf")
        time.sleep(0.005)
    return proc, checkpointed, time.monotonic() - sent


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def assert_prompt(proc: subprocess.Popen, checkpointed: float, exited: float) -> None:
    """The issue's bound: checkpointed within a second; the process gone well inside SLURM's default
    KillWait (30 s) too (the interpreter's own teardown with torch loaded takes a while)."""
    assert proc.returncode == EXIT_REQUEUE, proc.stdout.read()
    assert checkpointed < 1.0, f"checkpointed {checkpointed:.2f}s after the signal"
    assert exited < 5.0, f"exited {exited:.2f}s after the signal"


def signal_promptly(config: Path, run_dir: Path, marker: str, attempts: int = 3) -> None:
    """:func:`signal_at` + :func:`assert_prompt`, on a fresh run directory up to ``attempts`` times:
    a wall-clock bound on a shared 2-core machine can be missed by a neighbour's burst (writing the
    checkpoint of a ResNet-18, 85 MB, took 0.3-0.5 s here), so the fastest attempt is the one judged."""
    for attempt in range(attempts):
        if run_dir.exists():
            shutil.rmtree(run_dir)
        proc, checkpointed, exited = signal_at(config, run_dir, marker)
        if checkpointed < 1.0 or attempt == attempts - 1:
            assert_prompt(proc, checkpointed, exited)
            return


def test_sigterm_during_validation_checkpoints_the_epoch_within_a_second(eval_data, eval_reference, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(eval_config(eval_data)))
    run_dir = tmp_path / "run"
    signal_promptly(config, run_dir, "epoch 2/2: validation on")
    state = run_state(run_dir)
    assert state["state"] == "pending" and "SIGTERM during the validation of epoch 2" in state["reason"]
    ckpt = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["state"]
    assert (ckpt["epoch"], ckpt["batch"]) == (1, 2)  # epoch 2 trained (2 steps), its validation not done
    assert [m["epoch"] for m in read_metrics(run_dir)] == [1]
    train(config, run_dir)  # redoes the validation of epoch 2 only
    assert outcome(run_dir) == eval_reference


def test_sigterm_during_final_evaluation_keeps_training_and_redoes_only_the_test(eval_data, eval_reference,
                                                                                 tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(eval_config(eval_data)))
    run_dir = tmp_path / "run"
    signal_promptly(config, run_dir, "final evaluation of")
    state = run_state(run_dir)
    assert state["state"] == "pending" and "SIGTERM during the final evaluation" in state["reason"]
    assert "epoch 3" not in state["reason"]
    assert not (run_dir / "result.json").exists()
    metrics = (run_dir / "metrics.jsonl").read_bytes()
    train(config, run_dir)
    assert (run_dir / "metrics.jsonl").read_bytes() == metrics  # no epoch trained again
    log = (run_dir / "log.txt").read_text()
    assert "final evaluation" in log.split("resumed from")[-1].splitlines()[0]  # says what is left
    assert "at epoch 3" not in log  # a 2-epoch run
    assert outcome(run_dir) == eval_reference


# --------------------------------------------------------------------------- DDP: one rank's batch all bad
def test_ddp_step_with_one_rank_all_bad_equals_one_process_on_the_good_samples(small_data, tmp_path):
    from benchmark.data.loader import EpochSampler
    from benchmark.engine.builders import RunInputs, build_training
    from benchmark.engine.distributed import DistInfo
    from benchmark.engine.epoch import set_epoch_lr, train_step
    from benchmark.engine.meters import EpochMeter
    from benchmark.engine.run_config import load_run_config

    data = tmp_path / "data"
    shutil.copytree(small_data, data)
    sampler = EpochSampler(4, shuffle=True, seed=0, rank=1, world_size=2)
    sampler.set_epoch(0)
    rank1 = list(sampler)  # rank 1's (only) batch of epoch 1: make both its videos bad
    for index in rank1:
        shutil.rmtree(data / "frames" / "train" / f"train_{index:05d}")
    cfg = {"model": "TSN-TinyResNet-f4", "pretrained": None, "epochs": 1, "batch_size": 4, "workers": 0,
           "deterministic": True, "dropout": 0.0, "eval": {"video_level": False},
           "dataset": {"preset": "synthetic-temporal", "root": str(data), "on_bad_sample": "skip"}}
    config = tmp_path / "ddp.yaml"
    config.write_text(yaml.safe_dump(cfg))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           f"--master_port={port}", "--master_addr=127.0.0.1", "-m", "benchmark", "train",
                           str(config), "--run-dir", str(tmp_path / "ddp")],
                          env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = read_metrics(tmp_path / "ddp")
    assert line["train_clips"] == 2 and line["samples_skipped"] == 2  # rank 0's two clips were trained
    ddp = torch.load(tmp_path / "ddp" / "checkpoints" / "last.pt", weights_only=True)["model"]

    # One process, one step on rank 0's two good clips (same seed, hence same initial weights).
    one = load_run_config({**cfg, "batch_size": 2})
    t = build_training(one, RunInputs.of(one), DistInfo(), torch.device("cpu"))
    initial = {k: v.clone() for k, v in t.model.state_dict().items()}
    dataset = t.loader.dataset
    dataset.set_epoch(0)
    rank0 = [i for i in EpochSampler(4, shuffle=True, seed=0, rank=0, world_size=2)]
    batch = t.loader.collate_fn([dataset[i] for i in rank0])
    assert batch["label"].shape[0] == 2
    set_epoch_lr(t, 0)
    train_step(t, batch, EpochMeter(), "the reference step")
    expected = t.model.state_dict()
    assert ddp.keys() == expected.keys()
    assert any(not torch.equal(ddp[k], initial[k]) for k in ddp)  # the step was taken, not skipped
    for key in expected:
        assert torch.equal(ddp[key], expected[key]), key  # bit-identical on CPU
