"""Accuracy vs clips from kept per-view logits, the uniform/dense comparison, and their report sections.

The clip-subset rule is checked against hand-computed indices and against the suite's own sampling
(``benchmark.data.sampling``); accuracies against logits built so each clip's vote is known.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from test_analysis_fixtures import make_run

from benchmark.analysis.clip_count import (
    ViewLogits,
    accuracy_vs_clips,
    clip_count_curves,
    clip_subset,
    crop_subset,
    find_view_logits,
    load_view_logits,
)
from benchmark.analysis.collect import collect, done_runs
from benchmark.analysis.printed import load_printed
from benchmark.analysis.printed import paper_model_name as paper_name
from benchmark.analysis.sampling_compare import sampling_runs, table3
from benchmark.cli import main
from benchmark.data.sampling import dense_test, uniform_test
from benchmark.errors import DataError

# m = 10, worked by hand from docs: uniform offsets of m clips are -5..4 (index = offset + 5) and the
# n-clip offsets are ceil(-n/2)..ceil(n/2)-1; dense n-clip start i is nearest m-clip start
# i * 9 / (n - 1), halves rounded up (n = 3: 4.5 -> 5; n = 5: 2.25, 4.5, 6.75 -> 2, 5, 7).
UNIFORM_10 = {1: [5], 2: [4, 5], 3: [4, 5, 6], 4: [3, 4, 5, 6], 5: [3, 4, 5, 6, 7], 6: [2, 3, 4, 5, 6, 7],
              7: [2, 3, 4, 5, 6, 7, 8], 8: [1, 2, 3, 4, 5, 6, 7, 8], 9: [1, 2, 3, 4, 5, 6, 7, 8, 9],
              10: list(range(10))}
DENSE_10 = {1: [0], 2: [0, 9], 3: [0, 5, 9], 4: [0, 3, 6, 9], 5: [0, 2, 5, 7, 9], 6: [0, 2, 4, 5, 7, 9],
            7: [0, 2, 3, 5, 6, 8, 9], 8: [0, 1, 3, 4, 5, 6, 8, 9], 9: [0, 1, 2, 3, 5, 6, 7, 8, 9],
            10: list(range(10))}


@pytest.mark.parametrize("sampling, expected", [("uniform", UNIFORM_10), ("dense", DENSE_10)])
def test_clip_subset_by_hand(sampling, expected):
    assert {n: clip_subset(sampling, 10, n) for n in range(1, 11)} == expected
    with pytest.raises(ValueError):
        clip_subset(sampling, 10, 11)


@pytest.mark.parametrize("length", [7, 16, 30, 41, 300])
def test_uniform_subset_is_exactly_the_protocols_clips(length):
    """Uniform: the n-clip test's clips are the chosen m-clip test's clips, position for position."""
    for m in (2, 5, 10):
        every = uniform_test(length, 8, m)
        for n in range(1, m + 1):
            assert [every[j] for j in clip_subset("uniform", m, n)] == uniform_test(length, 8, n), (m, n)


@pytest.mark.parametrize("length", [40, 64, 97, 300])
def test_dense_subset_is_the_nearest_start(length):
    """Dense: each chosen m-clip start is the nearest to the n-clip start (whole-frame truncation
    allows one frame), and exactly the protocol's where n = 1, n = m or n - 1 divides m - 1."""
    m, frames, stride = 10, 8, 2
    starts_m = [c[0] for c in dense_test(length, frames, stride, m)]
    for n in range(1, m + 1):
        starts_n = [c[0] for c in dense_test(length, frames, stride, n)]
        chosen = [starts_m[j] for j in clip_subset("dense", m, n)]
        for want, got in zip(starts_n, chosen):
            assert abs(got - want) <= min(abs(s - want) for s in starts_m) + 1, (n, want, got)
        if n in (1, m) or (m - 1) % (n - 1) == 0:
            last = length - stride * frames
            if last % (m - 1) == 0:  # whole-frame starts: no truncation on either side
                assert chosen == starts_n, n


def views_from_votes(votes: list[list[int]], classes: int = 3) -> ViewLogits:
    """Video v's clip j votes for the label (0) with logit 1.0, else for class 1 with 1.1: averaged
    logits pick the label iff strictly more of the chosen clips are right than wrong."""
    logits = np.zeros((len(votes), len(votes[0]), 1, classes), np.float32)
    for v, clips in enumerate(votes):
        for j, right in enumerate(clips):
            logits[v, j, 0, 0 if right else 1] = 1.0 if right else 1.1
    return ViewLogits(None, np.arange(len(votes)), np.zeros(len(votes), np.int64), logits, "uniform", "logits")


def test_accuracy_per_number_of_clips_by_hand():
    # uniform, m = 10: n = 1 takes clip 5, n = 2 clips 4-5, n = 3 clips 4-6
    only5 = [int(j == 5) for j in range(10)]      # right for n = 1 only (n = 2: 1 vs 1, n = 3: 1 vs 2)
    all_but5 = [int(j != 5) for j in range(10)]   # wrong for n = 1, 2 (1 vs 1); right from n = 3
    views = views_from_votes([only5, all_but5, [1] * 10, [0] * 10])
    curve = accuracy_vs_clips(views)
    assert curve["n_clips"].tolist() == list(range(1, 11))
    assert curve["top1"].tolist() == [50.0, 25.0] + [50.0] * 8
    assert (curve["top5"] == 100.0).all()  # 3 classes: the label is always among the top 5
    dense = accuracy_vs_clips(ViewLogits(None, views.index, views.label, views.logits, "dense", "logits"))
    # dense n = 1 takes clip 0, n = 2 clips 0 and 9, n = 3 clips 0, 5, 9: all_but5 right from n = 1
    # (n = 3: 2 of 3), only5 never right (n = 3: 1 of 3)
    assert dense["top1"].tolist()[:3] == [50.0, 50.0, 50.0]


def test_softmax_averaging_differs_from_logit_averaging_as_the_run_chose():
    # 4 clips, 1 crop: three mildly right [1, 0, 0] and one confidently wrong [0, 4, 0]
    logits = np.array([[[[1, 0, 0]], [[1, 0, 0]], [[1, 0, 0]], [[0, 4, 0]]]], np.float32)
    # mean logits: label 0.75 < class 1 1.0 -> wrong; mean softmax: label (3 x 0.576 + 0.018) / 4 =
    # 0.436 > class 1 (0.965 + 3 x 0.212) / 4 = 0.400 -> right
    for average, top1 in (("logits", 0.0), ("softmax", 100.0)):
        views = ViewLogits(None, np.arange(1), np.zeros(1, np.int64), logits, "uniform", average)
        assert accuracy_vs_clips(views)["top1"].iloc[-1] == top1


def test_crop_counts_derivable_from_the_saved_ones():
    assert crop_subset(10, 1) == [4] and crop_subset(3, 3) == [0, 1, 2]
    assert crop_subset(3, 1) is None  # 3-crop views are full-height squares, not the centre crop
    logits = np.zeros((2, 1, 10, 3), np.float32)
    logits[:, 0, :, 1] = 1.0          # every crop says class 1 ...
    logits[:, 0, 4, :] = [0, 0, 5.0]  # ... but the centre crop says class 2
    views = ViewLogits(None, np.arange(2), np.array([2, 1]), logits, "dense", "logits")
    assert accuracy_vs_clips(views, crops=1)["top1"].tolist() == [50.0]   # centre: video 0 right
    assert accuracy_vs_clips(views, crops=10)["top1"].tolist() == [50.0]  # 9 x 1 > 5: video 1 right
    with pytest.raises(ValueError, match="not among"):
        accuracy_vs_clips(ViewLogits(None, views.index, views.label, logits[:, :, :3], "dense", "logits"), crops=1)


def write_views(run_dir, logits, labels, sampling, average="logits"):
    n, m, k, _ = logits.shape
    np.savez_compressed(run_dir / f"views-c{m}x{k}.npz", index=np.arange(n), label=np.asarray(labels),
                        logits=logits.astype(np.float32), clips=np.int64(m), crops=np.int64(k),
                        sampling=np.str_(sampling), average=np.str_(average))


def test_views_file_reading_and_damage(tmp_path):
    assert find_view_logits(tmp_path) is None
    write_views(tmp_path, np.zeros((2, 2, 1, 3)), [0, 1], "dense")
    write_views(tmp_path, np.zeros((2, 10, 3, 3)), [0, 1], "dense")
    (tmp_path / "views-c10x3.npz.tmp").write_text("x")
    assert find_view_logits(tmp_path).name == "views-c10x3.npz"  # the most clips
    views = load_view_logits(tmp_path / "views-c10x3.npz")
    assert (views.clips, views.crops, views.sampling, views.average) == (10, 3, "dense", "logits")
    (tmp_path / "views-c10x3.npz").write_bytes(b"PK\x03\x04 torn")
    with pytest.raises(DataError, match=r"views-c10x3.npz: not a readable per-view logits file"):
        load_view_logits(tmp_path / "views-c10x3.npz")
    buf = io.BytesIO()
    np.savez(buf, index=np.arange(2), label=np.zeros(2), logits=np.zeros((2, 3)), sampling="dense", average="logits")
    (tmp_path / "views-c2x1.npz").write_bytes(buf.getvalue())
    with pytest.raises(DataError, match=r"views-c2x1.npz: logits must be \(videos, clips, crops, classes\)"):
        load_view_logits(tmp_path / "views-c2x1.npz")


def set_sampling(run_dir, sampling, clips, crops):
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["dataset"] = {"preset": "synthetic-temporal", "name": config["dataset"], "sampling": sampling}
    config["eval"] = {"clips": clips, "crops": crops}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))


def sampling_source(root):
    """I3D-ResNet50-f32 on mini-kinetics, uniform and dense twins with views; TAM-ResNet18-f8 dense
    only (no twin, views damaged); TSN-ResNet18-f8 without views."""
    u = make_run(root / "u", "I3D-ResNet50-f32", "mini-kinetics", top1=60.0, macs_conv=2_000_000_000)
    d = make_run(root / "d", "I3D-ResNet50-f32", "mini-kinetics", top1=55.0, macs_conv=2_000_000_000)
    t = make_run(root / "d", "TAM-ResNet18-f8", "mini-kinetics", top1=40.0)
    make_run(root / "u", "TSN-ResNet18-f8", "mini-kinetics", top1=30.0)
    set_sampling(u, "uniform", 2, 3)
    set_sampling(d, "dense", 10, 3)
    set_sampling(t, "dense", 10, 3)
    votes = [[int(j == 5) for j in range(10)], [int(j != 5) for j in range(10)], [1] * 10, [0] * 10]
    logits = np.repeat(views_from_votes(votes).logits, 3, axis=2)  # 3 identical crops
    write_views(u, logits, [0] * 4, "uniform")
    write_views(d, logits, [0] * 4, "dense")
    (t / "views-c10x3.npz").write_bytes(b"not a zip")
    return root


def test_clip_count_curves_and_sampling_pairs_from_run_directories(tmp_path):
    done = done_runs(collect(sampling_source(tmp_path / "runs")))
    curves, missing = clip_count_curves(done)
    i3d = curves.set_index(["sampling", "n_clips"])
    assert i3d.loc[("uniform", 1), "top1"] == 50.0 and i3d.loc[("uniform", 2), "top1"] == 25.0
    assert i3d.loc[("dense", 1), "top1"] == 50.0 and i3d.loc[("dense", 2), "top1"] == 50.0
    assert i3d.loc[("dense", 4), "gflops"] == pytest.approx(2.0 * 4 * 3)  # one clip's GFLOPs x clips x crops
    assert len(missing) == 2 and "TSN-ResNet18-f8 (mini-kinetics): no per-view logits" in missing
    (damaged,) = [line for line in missing if line.startswith("TAM-ResNet18-f8 (mini-kinetics): ")]
    assert "views-c10x3.npz: not a readable per-view logits file" in damaged

    matched, notes = sampling_runs(done)
    pair = matched.set_index("sampling")
    assert pair.loc["uniform", "clip_top1"] == 60.0 and pair.loc["dense", "clip_top1"] == 55.0
    assert pair.loc["uniform", "video_top1"] == 61.0 and pair.loc["dense", "video_views"] == "10x3"
    assert sorted(notes) == ["TAM-ResNet18-f8 (mini-kinetics): dense only, no uniform twin",
                             "TSN-ResNet18-f8 (mini-kinetics): uniform only, no dense twin"]
    wide = table3(matched, load_printed("table3"))
    row = wide.iloc[0]
    assert (row["model"], row["uniform_clip"], row["dense_video"]) == ("I3D-ResNet50", 60.0, 56.0)
    assert (row["paper_uniform"], row["paper_dense"]) == (76.07, 76.61)  # printed Table 3, Kinetics


def test_paper_names():
    assert paper_name("I3D-ResNet50-f32") == "I3D-ResNet50"
    assert paper_name("SlowFast8x8-ResNet50-f32") == "SlowFast-ResNet50-8x8"


def test_report_sections_from_a_small_run_folder(tmp_path):
    out = tmp_path / "report"
    assert main(["report", str(sampling_source(tmp_path / "runs")), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "## Accuracy vs number of clips (Fig. 8/9)" in md and "## Uniform vs dense sampling (Fig. 5, Table 3)" in md
    assert "TSN-ResNet18-f8 (mini-kinetics): no per-view logits" in md
    assert "TAM-ResNet18-f8 (mini-kinetics): dense only, no uniform twin" in md
    written = json.loads((out / "report.json").read_text())
    assert {"figures/accuracy_vs_clips.png", "figures/sampling.png"} <= set(written["figures"])
    clips = pd.read_csv(out / "tables" / "clip_count.csv").set_index(["sampling", "n_clips"])
    assert clips.loc[("uniform", 3), "top1"] == 50.0 and clips.loc[("dense", 2), "top1"] == 50.0
    t3 = pd.read_csv(out / "tables" / "table3_sampling.csv")
    assert t3[["uniform_video", "dense_video", "paper_dense"]].iloc[0].tolist() == [61.0, 56.0, 76.61]


def test_report_sections_say_what_is_missing(tmp_path):
    make_run(tmp_path / "runs", "TSN-ResNet18-f8", "synthetic-temporal", top1=30.0)
    make_run(tmp_path / "runs", "TAM-ResNet18-f8", "my-set", top1=30.0)  # not a preset: sampling unknown
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "runs"), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "Not drawn: none of the 2 finished runs has per-view logits" in md
    assert ("sampling unknown (no dataset.sampling in the run config, nor a known preset) for 1 run(s): "
            "TAM-ResNet18-f8 (my-set)") in md
    assert "stbench test RUN_DIR --clips 10 --crops 3" in md
    assert "No matched pair" in md and "TSN-ResNet18-f8 (synthetic-temporal): uniform only, no dense twin" in md
