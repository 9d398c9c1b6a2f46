"""`stbench data bench`: rows and fields on a tiny dataset the test writes, and a fair baseline (not timing)."""

import math

import numpy as np
import pytest
import torch

from benchmark.cli import main
from benchmark.data import build_loader, resolve_data_config
from benchmark.data.bench import IMAGENET_MEAN, IMAGENET_STD, PilClips, bench_loaders
from benchmark.data.encode import write_frames, write_video
from benchmark.errors import ConfigError


def smooth_video(n, h, w, seed):
    coarse = np.random.default_rng(seed).integers(0, 256, (n, h // 8, w // 8, 3)).astype(np.float32)
    return np.kron(coarse, np.ones((1, 8, 8, 1), np.float32)).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    lines, videos = [], []
    for i in range(6):
        v = smooth_video(12, 40, 56, i)
        write_frames(v, root / f"v{i}")
        lines.append(f"v{i} 1 12 {i % 3}")
        if i < 4:
            write_video(v, root / f"m{i}.mp4")
            videos.append(f"m{i}.mp4 {i % 2}")
    (root / "frames.txt").write_text("\n".join(lines) + "\n")
    (root / "videos.txt").write_text("\n".join(videos) + "\n")
    return root


def _cfg(root, **over):
    return resolve_data_config({"name": "b", "root": str(root), "train_list": "frames.txt", "val_list": "frames.txt",
                                "num_classes": 3, "resize": 40, "crop": 32, "num_workers": 0, **over})


def test_rows_per_configuration_with_finite_ratios(tiny):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        rows = bench_loaders(_cfg(tiny), frames=(2, 4), workers=(0, 1), batches=2, batch_size=2, rounds=1)
        assert torch.get_num_threads() == 2  # restored after the one-thread measurement
    finally:
        torch.set_num_threads(threads)
    assert [(r.frames, r.workers) for r in rows] == [(2, 0), (2, 1), (4, 0), (4, 1)]
    for r in rows:
        assert r.clips == 4 and r.batch_size == 2
        assert r.stbench_clips_per_s > 0 and r.pil_clips_per_s > 0
        assert math.isfinite(r.ratio) and r.ratio == pytest.approx(r.stbench_clips_per_s / r.pil_clips_per_s)
    assert set(rows[0].as_dict()) == {"frames", "workers", "batch_size", "clips", "stbench_clips_per_s",
                                      "pil_clips_per_s", "ratio"}


def test_video_lists_get_the_suite_rate_only(tiny):
    cfg = _cfg(tiny, format="video", train_list="videos.txt", val_list="videos.txt", num_classes=2)
    (row,) = bench_loaders(cfg, frames=(2,), workers=(0,), batches=1, batch_size=2, rounds=1)
    assert row.stbench_clips_per_s > 0 and row.pil_clips_per_s is None and row.ratio is None


def test_baseline_loads_the_same_clips_as_the_suite(tiny):
    """Same frames, crop box and flip: the two loaders do the same work (PIL's resampling aside)."""
    cfg = _cfg(tiny, resize=40, crop=32, flip=True)
    loader = build_loader(cfg, "train", frames=4, mean=IMAGENET_MEAN, std=IMAGENET_STD, train=True, batch_size=2,
                          seed=1)
    pil = PilClips(loader.dataset, IMAGENET_MEAN, IMAGENET_STD)
    for epoch in (0, 1):
        for index in range(6):
            ours = loader.model_input(loader.dataset[(epoch, index)]["video"], "cpu")
            theirs = pil[(epoch, index)]
            assert theirs.shape == ours.shape == (3, 4, 32, 32)
            assert (ours - theirs).abs().mean() < 0.03, (epoch, index)  # ~1.5 grey levels / std


def test_cli_prints_one_row_per_configuration(tiny, capsys):
    assert main(["data", "bench", str(tiny / "frames.txt"), "--resize", "40", "--crop", "32", "--frames", "2",
                 "--workers", "0", "--batches", "1", "--batch-size", "2", "--rounds", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [line for line in out if line.startswith("| 2 |")]
    assert len(rows) == 1 and rows[0].endswith("x |")
    ratio = float(rows[0].split("|")[-2].strip().rstrip("x"))
    assert math.isfinite(ratio) and ratio > 0


def test_bad_settings_are_one_line_errors(tiny, capsys):
    with pytest.raises(ConfigError, match="--batches"):
        bench_loaders(_cfg(tiny), frames=(2,), workers=(0,), batches=0)
    assert main(["data", "bench", str(tiny / "frames.txt"), "--batch-size", "64", "--frames", "2",
                 "--workers", "0", "--resize", "40", "--crop", "32"]) != 0
    assert "fewer than 64 clips" in capsys.readouterr().err
