"""Per-view logits kept by the evaluation (``stbench test --clips m --crops k``) on a tiny trained run.

The kept logits are checked against the network called directly on each view the loader gave it,
and against separate n-clip tests: what the clip-count analysis derives from one m-clip test must
be what testing with n clips gives (the issue's acceptance: the 1-clip point equals ``--clips 1``).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import yaml

from benchmark.analysis.clip_count import accuracy_vs_clips, clip_subset, load_view_logits
from benchmark.cli import main
from benchmark.data.synthetic import generate
from benchmark.engine import (
    builders,  # used as builders.testing_loader: pytest collects test* names
    evaluate,
    load_run_config,
    train,
)
from benchmark.engine.distributed import DistInfo
from benchmark.engine.evaluation import evaluate_model, write_view_logits

pytestmark = pytest.mark.slow  # one training step and a handful of evaluations: ~20-40 s on a loaded CPU


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """TSN-TinyResNet-f4 (the test-only network) after one step; 3 validation videos of 16 frames
    (distinct dense clips), frames resized to 40 so the 10 crops differ (flip allowed for 10-crop
    testing)."""
    root = tmp_path_factory.mktemp("views")
    generate("temporal", root / "data", num_train=2, num_val=3, size=32, frames_per_video=16, seed=0,
             formats=("frames",))
    cfg = {"model": "TSN-TinyResNet-f4", "pretrained": None, "epochs": 1, "batch_size": 2,
           "max_steps_per_epoch": 1, "workers": 0, "device": "cpu", "deterministic": True,
           "dataset": {"preset": "synthetic-temporal", "root": str(root / "data"), "resize": 40, "flip": True},
           "eval": {"video_level": False, "batch_size": 2}}
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(cfg, root / "run")
        yield root / "run"
    finally:
        torch.set_num_threads(previous)


def test_kept_views_equal_the_network_on_each_view_the_loader_gave(run_dir, tmp_path):
    cfg = load_run_config(run_dir / "config.yaml")
    inputs = builders.RunInputs.of(cfg)
    model, _ = builders.restored_model(cfg, inputs.num_classes, run_dir / "checkpoints" / "best.pt", "best")
    seen = []
    model.register_forward_pre_hook(lambda _module, args: seen.append(args[0].detach().clone()))
    device, info = torch.device("cpu"), DistInfo()
    loader = builders.testing_loader(inputs, cfg, info, device, 3, 10)
    merged = evaluate_model(model, loader, device, info, keep_views=True)
    assert merged["index"].tolist() == [0, 1, 2] and merged["views"].shape == (3, 30, 4)
    views = torch.cat(seen)  # (videos x 30 views, 3, T, H, W), in the loader's order
    assert views.shape[0] == 90
    with torch.no_grad():
        direct = torch.cat([model(v[None]) for v in views]).view(3, 30, 4)  # one view at a time
    assert np.allclose(merged["views"], direct.numpy(), atol=1e-5)
    # the views differ from each other (else the order would go untested)
    assert not np.allclose(merged["views"][:, 0], merged["views"][:, 4], atol=1e-3)
    # averaged as the run averages: the per-video scores
    assert np.allclose(merged["views"].mean(axis=1), merged["scores"], atol=1e-6)
    path = write_view_logits(tmp_path, merged, clips=3, crops=10, sampling="uniform", average="logits",
                             stem="views-c3x10")
    kept = load_view_logits(path)
    assert kept.logits.shape == (3, 3, 10, 4) and kept.logits.dtype == np.float32
    assert np.array_equal(kept.logits.reshape(3, 30, 4), merged["views"])  # clip-major: view = clip * 10 + crop


def _scores(run, stem):
    return np.load(run / f"predictions-{stem}.npz")["scores"]


def test_cli_test_keeps_views_and_n_clip_tests_equal_their_derivation(run_dir):
    assert main(["test", str(run_dir), "--clips", "4", "--crops", "10"]) == 0
    record = json.loads((run_dir / "test-c4x10.json").read_text())
    assert (record["views"], record["sampling"]) == ("views-c4x10.npz", "uniform")
    kept = load_view_logits(run_dir / "views-c4x10.npz")
    curve = accuracy_vs_clips(kept).set_index("n_clips")
    assert curve.loc[4, "top1"] == record["top1"] and curve.loc[4, "top5"] == record["top5"]

    one = evaluate(run_dir, clips=1, crops=1, views=False)
    assert not (run_dir / "views-c1x1.npz").exists() and one["views"] is None
    # uniform, m = 4: one clip is clip 2 (offset 0); one crop is the 10 crops' centre (index 4)
    assert clip_subset("uniform", 4, 1) == [2]
    assert np.allclose(_scores(run_dir, "c1x1"), kept.logits[:, 2, 4], atol=1e-5)
    assert accuracy_vs_clips(kept, crops=1).set_index("n_clips").loc[1, "top1"] == one["top1"]

    two = evaluate(run_dir, clips=2, crops=1, views=False)
    assert np.allclose(_scores(run_dir, "c2x1"), kept.logits[:, [1, 2], 4].mean(axis=1), atol=1e-5)
    assert accuracy_vs_clips(kept, crops=1).set_index("n_clips").loc[2, "top1"] == two["top1"]


def test_dense_n_clip_tests_equal_their_derivation(run_dir, tmp_path):
    """16 frames, 4-frame clips at stride 2: 5 clips start at 0, 2, 4, 6, 8 and 3 clips at 0, 4, 8,
    so the 3-clip test is the 5-clip test's clips 0, 2, 4 exactly."""
    dense = tmp_path / "dense"
    shutil.copytree(run_dir, dense, ignore=shutil.ignore_patterns("views-*", "predictions-*", "test-*"))
    config = yaml.safe_load((dense / "config.yaml").read_text())
    config["dataset"]["sampling"] = "dense"
    (dense / "config.yaml").write_text(yaml.safe_dump(config))
    five = evaluate(dense, clips=5, crops=1)
    kept = load_view_logits(dense / "views-c5x1.npz")
    assert kept.sampling == "dense" and clip_subset("dense", 5, 3) == [0, 2, 4]
    assert not np.allclose(kept.logits[:, 0], kept.logits[:, 4], atol=1e-3)  # the clips differ
    three = evaluate(dense, clips=3, crops=1, views=False)
    assert np.allclose(_scores(dense, "c3x1"), kept.logits[:, [0, 2, 4], 0].mean(axis=1), atol=1e-5)
    curve = accuracy_vs_clips(kept).set_index("n_clips")
    assert curve.loc[3, "top1"] == three["top1"] and curve.loc[5, "top1"] == five["top1"]
    first = evaluate(dense, clips=1, crops=1, views=False)  # dense, one clip: the first
    assert np.allclose(_scores(dense, "c1x1"), kept.logits[:, 0, 0], atol=1e-5)
    assert curve.loc[1, "top1"] == first["top1"]


def test_two_processes_keep_each_video_once(run_dir, tmp_path):
    """DDP: 3 videos on 2 ranks (the sampler repeats one): the views file equals one process's."""
    import os
    import socket
    import subprocess
    import sys

    ddp = tmp_path / "ddp"
    shutil.copytree(run_dir, ddp, ignore=shutil.ignore_patterns("views-*", "predictions-*", "test-*"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}",
           "--master_addr=127.0.0.1", "-m", "benchmark", "test", str(ddp), "--clips", "2", "--crops", "3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    two = load_view_logits(ddp / "views-c2x3.npz")
    evaluate(run_dir, clips=2, crops=3)
    one = load_view_logits(run_dir / "views-c2x3.npz")
    assert two.index.tolist() == one.index.tolist() == [0, 1, 2]
    assert np.allclose(two.logits, one.logits, atol=1e-5)
