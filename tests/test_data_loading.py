"""Reading real files (JPEG folders, H.264 mp4, VP9 webm) into batches: frames, shapes, determinism."""

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.data import build_dataset, build_loader, resolve_data_config
from benchmark.data.decode import FrameFolder, VideoFile
from benchmark.data.encode import write_frames, write_video
from benchmark.data.transforms import eval_views, multiscale_crop_box, render
from benchmark.errors import ConfigError

MEAN, STD = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)  # items are uint8 pixels; model_input would give pixel/255
STEP = 8  # frame t of a test video is flat grey 8*t: its value identifies it through compression


def grey_video(n: int, size: int = 32, height: int | None = None) -> np.ndarray:
    h = height or size
    return np.stack([np.full((h, size, 3), STEP * t, np.uint8) for t in range(n)])


def frame_ids(clip: torch.Tensor) -> list[int]:
    """Frame numbers of a (T, 3, H, W) uint8 clip of grey frames."""
    return [round(float(f.float().mean()) / STEP) for f in clip]


def item_ids(video: torch.Tensor) -> list[int]:
    """Frame numbers of a uint8 item video (3, T, H, W) of grey frames."""
    return frame_ids(video.transpose(0, 1))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    # frame folder whose list entry starts at frame number 3 (official lists may not start at 1)
    write_frames(grey_video(24)[3:], root / "f0", first=3)  # files 00003..00023 hold frames 3..23
    write_video(grey_video(30), root / "v0.mp4")
    write_video(grey_video(30), root / "v0.webm")
    (root / "frames.txt").write_text("f0 3 23 1\nf0 3 22 2\n")
    (root / "videos.txt").write_text("v0.mp4 0\nv0.webm 3\n")
    return root


def test_frame_folder_reads_template_numbers(tiny):
    folder = FrameFolder(tiny / "f0", 3, 23, "{:05d}.jpg", "x:1")
    assert folder.num_frames == 21
    assert frame_ids(folder.read([0, 5, 20, 5])) == [3, 8, 23, 8]


@pytest.mark.parametrize("name", ["v0.mp4", "v0.webm"])
def test_video_decoding_returns_the_requested_frames(tiny, name):
    video = VideoFile(tiny / name, "x:1")
    assert video.num_frames == 30  # webm: estimated from duration x rate
    assert frame_ids(video.read([0, 29, 7, 7, 15])) == [0, 29, 7, 7, 15]


def test_video_seek_path_and_positions_past_the_end(tmp_path):
    write_video(grey_video(31, 16), tmp_path / "long.mp4")
    ids = frame_ids(VideoFile(tmp_path / "long.mp4", "x").read([1, 30, 2]))
    assert ids == [1, 30, 2]
    # estimate beyond the real end: the last frame is repeated
    f = VideoFile(tmp_path / "long.mp4", "x")
    assert frame_ids(f.read([30, 40])) == [30, 30]


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_video_decoding_jumps_to_key_frames_instead_of_decoding_everything(tmp_path, suffix):
    frames = np.stack([np.full((16, 16, 3), 2 * t, np.uint8) for t in range(120)])  # grey 2t
    write_video(frames, tmp_path / f"g{suffix}", keyint=10)
    video = VideoFile(tmp_path / f"g{suffix}", "x")
    assert [round(float(f.float().mean()) / 2) for f in video.read([5, 115, 60])] == [5, 115, 60]
    # decoding forward would take 116 frames; from the key frames (every <= 10) at most 3 GOPs
    assert video.decoded_frames <= 30


def test_uniform_and_dense_clips_from_real_videos_match_hand_computed_positions(tiny):
    videos = dict(format="video", train_list="videos.txt", val_list="videos.txt")
    # 30 frames, 4 segments of 7 (training, one shared offset o): o, 7+o, 14+o, 21+o
    ds = build_dataset(_cfg(tiny, **videos), "train", frames=4, mean=MEAN, std=STD, train=True, seed=2)
    for i in (0, 1):  # mp4, webm
        ids = item_ids(ds[i]["video"])
        assert ids == [ids[0] + 7 * k for k in range(4)] and 0 <= ids[0] < 7
    # dense testing, stride 3, 3 clips: starts linspace(0, 30 - 12, 3) = 0, 9, 18
    ds = build_dataset(_cfg(tiny, sampling="dense", dense_stride=3, **videos), "val", frames=4, mean=MEAN, std=STD,
                       train=False, num_clips=3)
    for i in (0, 1):
        v = ds[i]["video"]
        ids = [item_ids(v[c]) for c in range(3)]
        assert ids == [[0, 3, 6, 9], [9, 12, 15, 18], [18, 21, 24, 27]]


def _cfg(root, **over):
    base = dict(name="tiny", root=str(root), train_list="frames.txt", val_list="frames.txt", num_classes=4,
                resize=32, crop=32, scales=[1.0], num_workers=0, flip=False)
    base.update(over)
    return resolve_data_config(base)


def test_uniform_test_clip_from_frame_list_matches_hand_computed_files(tiny):
    ds = build_dataset(_cfg(tiny), "val", frames=4, mean=MEAN, std=STD, train=False, num_clips=2)
    item = ds[0]
    # 21 frames, 4 segments: tick 5.25; offsets -1, 0 -> int(2.625 - 1 + 5.25k) = 1, 6, 12, 17 and int(2.625 + 5.25k) = 2, 7, 13, 18
    v = item["video"]  # (V=2, 3, T, H, W) uint8 grey frames
    ids = [item_ids(v[c]) for c in range(2)]
    assert ids == [[3 + p for p in (1, 6, 12, 17)], [3 + p for p in (2, 7, 13, 18)]]
    assert item["label"] == 1 and item["index"] == 0


def test_dense_training_clip_from_video_is_contiguous(tiny):
    cfg = _cfg(tiny, format="video", train_list="videos.txt", val_list="videos.txt", sampling="dense", dense_stride=3)
    ds = build_dataset(cfg, "train", frames=4, mean=MEAN, std=STD, train=True, seed=5)
    for i in (0, 1):
        ids = item_ids(ds[i]["video"])
        assert ids == [ids[0] + 3 * k for k in range(4)] and 0 <= ids[0] < 30 - 12


def test_loader_batches_shapes_labels_and_indices(tiny):
    cfg = _cfg(tiny, resize=36, crop=32)
    loader = build_loader(cfg, "val", frames=4, mean=(0.5,) * 3, std=(0.25,) * 3, train=False, batch_size=2)
    batch = next(iter(loader))
    assert batch["video"].shape == (2, 3, 4, 32, 32) and batch["video"].dtype == torch.uint8
    assert batch["label"].tolist() == [1, 2] and batch["index"].tolist() == [0, 1] and batch["skipped"] == 0
    # normalisation on the device: grey g -> (g/255 - 0.5) / 0.25
    x = loader.model_input(batch["video"], "cpu")
    assert x.dtype == torch.float32 and x.shape == (2, 3, 4, 32, 32)
    assert torch.allclose(x, (batch["video"].float() / 255 - 0.5) / 0.25)
    mv = build_loader(cfg, "val", frames=4, mean=MEAN, std=STD, train=False, batch_size=2, num_clips=2, num_crops=3)
    assert next(iter(mv))["video"].shape == (2, 6, 3, 4, 36, 36)  # 3 crops of the full short side


def test_training_is_deterministic_per_epoch_across_workers_and_resumable(tmp_path):
    from benchmark.data.synthetic import generate

    generate("spatial", tmp_path, num_train=12, num_val=2, size=32, frames_per_video=8, formats=("frames",))
    cfg = resolve_data_config({"preset": "synthetic-spatial", "root": str(tmp_path), "scales": [1, 0.875, 0.75],
                               "flip": True, "resize": 40})

    def epoch(workers, e, start=0):
        loader = build_loader(cfg, "train", frames=4, mean=MEAN, std=STD, train=True, batch_size=4,
                              num_workers=workers, seed=3)
        loader.set_epoch(e, start_batch=start)
        return [(b["index"].tolist(), b["video"]) for b in loader]

    e0, e0_workers, e1 = epoch(0, 0), epoch(2, 0), epoch(0, 1)
    assert e0[0][1].dtype == torch.uint8
    assert [i for i, _ in e0] == [i for i, _ in e0_workers]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(e0, e0_workers))
    assert [i for i, _ in e0] != [i for i, _ in e1]  # reshuffled per epoch
    assert sorted(sum((i for i, _ in e0), [])) == list(range(12))
    resumed = epoch(0, 0, start=1)
    assert [i for i, _ in resumed] == [i for i, _ in e0][1:]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(resumed, e0[1:]))


def test_persistent_workers_give_the_same_batches_across_epochs_and_a_mid_epoch_resume(tmp_path):
    from benchmark.data.synthetic import generate

    generate("spatial", tmp_path, num_train=12, num_val=2, size=32, frames_per_video=8, formats=("frames",))
    cfg = resolve_data_config({"preset": "synthetic-spatial", "root": str(tmp_path), "scales": [1, 0.875, 0.75],
                               "flip": True, "resize": 40})

    def make(workers, **kw):
        return build_loader(cfg, "train", frames=4, mean=MEAN, std=STD, train=True, batch_size=4,
                            num_workers=workers, seed=3, **kw)

    def run(loader, e, start=0, stop=None):
        loader.set_epoch(e, start_batch=start)
        out = []
        for b in loader:
            out.append((b["index"].tolist(), b["video"]))
            if stop is not None and len(out) == stop:
                break  # abandon the epoch (a pre-emption): prefetched batches are left behind
        return out

    reference = make(0)
    persistent = make(2, persistent_workers=True, prefetch_factor=3)
    assert persistent.persistent_workers and persistent.prefetch_factor == 3
    assert not make(0, persistent_workers=True).persistent_workers  # no workers, nothing to keep
    # epoch 0, epoch 1 abandoned after one batch, then epoch 1 resumed at batch 2, then epoch 2
    plan = [dict(e=0), dict(e=1, stop=1), dict(e=1, start=2), dict(e=2)]
    for step in plan:
        expected, got = run(reference, **step), run(persistent, **step)
        assert [i for i, _ in got] == [i for i, _ in expected], step
        assert all(torch.equal(a, b) for (_, a), (_, b) in zip(got, expected)), step
    workers = persistent._iterator._workers
    assert all(w.is_alive() for w in workers)  # the same processes served every epoch
    assert run(persistent, 1, start=2)[0][0] == run(reference, 1)[2][0]


def test_cuda_device_defaults_and_explicit_loader_options(tmp_path):
    from benchmark.data.synthetic import generate

    generate("spatial", tmp_path, num_train=4, num_val=2, size=32, frames_per_video=8, formats=("frames",))
    cfg = resolve_data_config({"preset": "synthetic-spatial", "root": str(tmp_path)})

    def make(**kw):
        return build_loader(cfg, "train", frames=4, mean=MEAN, std=STD, train=True, batch_size=2, **kw)

    cuda = make(num_workers=2, device="cuda")  # building needs no GPU: only the options are derived
    assert (cuda.pin_memory, cuda.persistent_workers, cuda.prefetch_factor) == (True, True, 4)
    cpu = make(num_workers=2, device=torch.device("cpu"))
    assert (cpu.pin_memory, cpu.persistent_workers, cpu.prefetch_factor) == (False, False, 2)
    plain = make(num_workers=0, device="cuda", pin_memory=False)
    assert (plain.pin_memory, plain.persistent_workers, plain.prefetch_factor) == (False, False, None)


def test_multiscale_crop_boxes_follow_tsn_scales():
    rng = np.random.default_rng(0)
    sizes = set()
    for _ in range(500):
        top, left, h, w = multiscale_crop_box(256, 340, (1, 0.875, 0.75, 0.66), rng)
        assert h in (256, 224, 192, 168) and w in (256, 224, 192, 168)
        assert abs([256, 224, 192, 168].index(h) - [256, 224, 192, 168].index(w)) <= 1
        assert 0 <= top <= 256 - h and 0 <= left <= 340 - w
        sizes.add((h, w))
    assert len(sizes) == 10  # 4 squares + 6 one-step-distorted pairs


def test_eval_views_ten_crop_and_three_crop():
    clip = torch.arange(2 * 3 * 40 * 60, dtype=torch.int64).reshape(2, 3, 40, 60).to(torch.uint8)
    ten = render(list(clip), eval_views(40, 60, resize=40, crop=32, num_crops=10))
    assert len(ten) == 10 and all(v.shape == (2, 3, 32, 32) for v in ten)
    assert torch.equal(ten[5], ten[0].flip(-1))  # second half = flipped first half
    assert torch.equal(ten[0], clip[..., :32, :32]) and torch.equal(ten[3], clip[..., 8:, 28:])  # corners
    assert torch.equal(ten[4], clip[..., 4:36, 14:46])  # centre
    three = render(list(clip), eval_views(40, 60, resize=40, crop=32, num_crops=3))
    assert [v.shape for v in three] == [(2, 3, 40, 40)] * 3
    assert torch.equal(three[0], clip[..., :40]) and torch.equal(three[2], clip[..., 20:])


def test_no_flip_datasets_never_flip_and_reject_ten_crop(tmp_path):
    from benchmark.data.synthetic import generate

    generate("temporal", tmp_path, num_train=4, num_val=1, size=32, frames_per_video=8, formats=("frames",))
    cfg = resolve_data_config({"preset": "synthetic-temporal", "root": str(tmp_path)})
    assert cfg.flip is False
    ds = build_dataset(cfg, "train", frames=8, mean=MEAN, std=STD, train=True)
    raw = FrameFolder(tmp_path / "frames/train/train_00000", 1, 8, "{:05d}.jpg", "x").read(list(range(8)))
    for epoch in range(8):  # with flips allowed, 8 epochs would flip at least once (p = 1 - 2^-8)
        ds.set_epoch(epoch)
        assert torch.equal(ds[0]["video"].permute(1, 0, 2, 3), raw)
    with pytest.raises(ConfigError, match="flip"):
        build_dataset(cfg, "val", frames=8, mean=MEAN, std=STD, train=False, num_crops=10)


def test_video_tree_layout(tmp_path):
    for split in ("train", "val"):
        for cls, n in (("b_run", 2), ("a_jump", 1)):
            for i in range(n):
                write_video(grey_video(10, 16), tmp_path / split / cls / f"{i}.mp4")
    cfg = resolve_data_config(dict(root=str(tmp_path), train_list="train", val_list="val", num_classes=2,
                                   format="video", resize=16, crop=16, num_workers=0))
    ds = build_dataset(cfg, "val", frames=4, mean=MEAN, std=STD, train=False)
    assert [(e.path.parent.name, e.label) for e in ds.entries] == [("a_jump", 0), ("b_run", 0 + 1), ("b_run", 1)]
    assert ds[2]["video"].shape == (3, 4, 16, 16)


def test_presets_and_strict_config(monkeypatch, tmp_path):
    monkeypatch.setenv("STBENCH_DATA", str(tmp_path))
    ssv2 = resolve_data_config("mini-ssv2")
    assert (ssv2.num_classes, ssv2.flip, ssv2.separator) == (87, False, None)
    k = resolve_data_config({"preset": "mini-kinetics", "crop": 112, "resize": 128})
    assert (k.num_classes, k.separator, k.crop, k.root) == (200, ";", 112, str(tmp_path / "mini-kinetics"))
    assert resolve_data_config("mini-mit").num_classes == 200
    with pytest.raises(ConfigError, match=r"unknown key 'sampleing'.*did you mean 'sampling'"):
        resolve_data_config({"preset": "mini-mit", "sampleing": "dense"})
    with pytest.raises(ConfigError, match="valid presets"):
        resolve_data_config("kinetics-9000")
    with pytest.raises(ConfigError, match="sampling"):
        resolve_data_config({"preset": "mini-mit", "sampling": "random"})
    with pytest.raises(ConfigError, match="crop"):
        resolve_data_config({"preset": "mini-mit", "crop": 300})


def test_data_config_round_trips_through_yaml(tmp_path):
    import yaml

    from benchmark.data.dataset_config import data_config_dict

    cfg = resolve_data_config({"preset": "mini-kinetics", "root": str(tmp_path)})
    again = resolve_data_config(yaml.safe_load(yaml.safe_dump(data_config_dict(cfg))))
    assert again == cfg


def test_missing_list_file_is_named(tmp_path):
    from benchmark.errors import DataError

    with pytest.raises(DataError, match=str(Path(tmp_path) / "frames.txt")):
        build_dataset(_cfg(tmp_path), "train", frames=4, mean=MEAN, std=STD, train=True)
