"""Crop-first uint8 views equal the previous resize-stack-crop-normalise pipeline (kept here as the reference).

The reference is the suite's former ``transforms.py`` (torchvision v2 on stacked full frames, float
normalisation in the dataset). With frames whose short side already equals ``resize`` the new
pixels must be identical; otherwise they may differ only by resampling once instead of twice.
"""

from collections.abc import Sequence

import numpy as np
import pytest
import torch
from torch.nn import functional as nnf
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F
from torchvision.tv_tensors import Video

from benchmark.data import build_dataset, build_loader, resolve_data_config
from benchmark.data.dataset import stack_in_memory_order
from benchmark.data.decode import FrameFolder
from benchmark.data.encode import write_frames
from benchmark.data.loader import VideoLoader
from benchmark.data.transforms import eval_views, render, resized_shape, train_view
from benchmark.errors import DataError

SCALES = (1, 0.875, 0.75, 0.66)


# ----------------------------------------------------------------------------- the former implementation
def ref_resize_short(clip, size):
    if min(clip.shape[-2:]) == size:
        return clip
    return F.resize(Video(clip), [size], interpolation=InterpolationMode.BILINEAR,
                    antialias=True).as_subclass(torch.Tensor)


def ref_box(h, w, scales, rng):
    sizes = [int(min(h, w) * s) for s in scales]
    pairs = [(a, b) for i, a in enumerate(sizes) for j, b in enumerate(sizes) if abs(i - j) <= 1]
    ch, cw = pairs[int(rng.integers(len(pairs)))]
    grid = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2), (0, 2), (4, 2), (2, 0), (2, 4), (1, 1), (1, 3), (3, 1), (3, 3)]
    gy, gx = grid[int(rng.integers(len(grid)))]
    return int(gy * (h - ch) / 4), int(gx * (w - cw) / 4), ch, cw


def ref_train_view(clip, resize, crop, scales, flip, rng):
    clip = ref_resize_short(clip, resize)
    top, left, ch, cw = ref_box(*clip.shape[-2:], scales, rng)
    out = F.resized_crop(Video(clip), top, left, ch, cw, [crop, crop], interpolation=InterpolationMode.BILINEAR,
                         antialias=True)
    if flip and rng.random() < 0.5:
        out = F.horizontal_flip(out)
    return out.as_subclass(torch.Tensor)


def ref_eval_views(clip, resize, crop, num_crops):
    clip = ref_resize_short(clip, resize)
    video, (h, w) = Video(clip), clip.shape[-2:]
    if num_crops == 1:
        views = [F.center_crop(video, [crop, crop])]
    elif num_crops == 3:
        side = min(h, w)
        boxes = [(0, x) for x in (0, (w - side) // 2, w - side)] if w >= h else \
            [(y, 0) for y in (0, (h - side) // 2, h - side)]
        views = [F.crop(video, t, left, side, side) for t, left in boxes]
    else:
        five = list(F.five_crop(video, [crop, crop]))
        views = five + [F.horizontal_flip(v) for v in five]
    return [v.as_subclass(torch.Tensor) for v in views]


def ref_normalize(clip, mean: Sequence[float], std: Sequence[float]):
    x = F.normalize(clip.to(torch.float32).div_(255.0), list(mean), list(std))
    return x.permute(1, 0, 2, 3).contiguous()


# ----------------------------------------------------------------------------- helpers
def smooth_frames(t, h, w, seed=0, cell=4):
    """Frames of noise upsampled from ``cell``-pixel cells, laid out as the JPEG decoder lays them out."""
    coarse = torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (t, 3, h // cell, w // cell))).float()
    big = nnf.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    hwc = big.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    return [f.permute(2, 0, 1) for f in hwc]  # (3, H, W) views of pixel-interleaved memory


def new_train(frames, seed, resize, crop, flip=True):
    rng = np.random.default_rng(seed)
    h, w = frames[0].shape[-2:]
    view = train_view(h, w, resize=resize, crop=crop, scales=SCALES, flip=flip, rng=rng)
    return render(frames, [view])[0], view, rng.random()


def old_train(frames, seed, resize, crop, flip=True):
    rng = np.random.default_rng(seed)
    return ref_train_view(torch.stack(frames), resize, crop, SCALES, flip, rng), rng.random()


# ----------------------------------------------------------------------------- views
def test_training_views_equal_the_former_pipeline_exactly_at_the_stored_size():
    frames = smooth_frames(3, 48, 68)  # short side 48 = resize: no resizing of the frame
    flips = set()
    for seed in range(60):
        new, view, after_new = new_train(frames, seed, resize=48, crop=40)
        old, after_old = old_train(frames, seed, resize=48, crop=40)
        assert torch.equal(new, old), seed
        assert after_new == after_old  # the same draws were consumed, in the same order
        flips.add(view.flip)
    assert flips == {True, False}


def test_training_views_after_a_resize_differ_only_by_resampling_order():
    # Resized to short side 64 by the former pipeline. The mapped box may sit up to half an original
    # pixel away and the region is resampled once, so smooth (natural-image-like) content differs by
    # about one grey level on average (high-frequency texture by more).
    frames = smooth_frames(2, 96, 128, cell=16)
    for seed in range(30):
        new, view, after_new = new_train(frames, seed, resize=64, crop=56)
        old, after_old = old_train(frames, seed, resize=64, crop=56)
        assert after_new == after_old and new.shape == old.shape == (2, 3, 56, 56)
        diff = (new.int() - old.int()).abs()
        assert diff.float().mean() < 2 and diff.max() <= 16, (seed, diff.float().mean(), diff.max())
        # the box is the former one scaled by 96 / 64 (to under one original pixel)
        rng = np.random.default_rng(seed)
        top, left, ch, cw = ref_box(64, 85, SCALES, rng)
        assert max(abs(a - b * 1.5) for a, b in zip(view.box, (top, left, ch, cw))) <= 1


@pytest.mark.parametrize("num_crops", [1, 3, 10])
@pytest.mark.parametrize("shape,resize", [((40, 56), 40), ((56, 40), 40), ((80, 108), 40)])
def test_eval_views_match_the_former_pipeline(num_crops, shape, resize):
    frames = smooth_frames(2, *shape, seed=num_crops, cell=4 if min(shape) == resize else 16)
    views = eval_views(*shape, resize=resize, crop=32, num_crops=num_crops)
    new = render(frames, views)
    old = ref_eval_views(torch.stack(frames), resize, 32, num_crops)
    assert [v.shape for v in new] == [v.shape for v in old]
    for a, b in zip(new, old):  # evaluation frames are resized whole, once, as before: the same pixels
        assert torch.equal(a, b)


def test_resized_shape_follows_torchvision():
    for h, w, size in [(256, 340, 224), (340, 256, 128), (240, 320, 256), (100, 100, 64), (256, 340, 256)]:
        assert resized_shape(h, w, size) == tuple(ref_resize_short(torch.zeros(1, 3, h, w, dtype=torch.uint8),
                                                                   size).shape[-2:])


# ----------------------------------------------------------------------------- dataset + loader end to end
@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("fast")
    lines = []
    for i in range(4):
        hwc = torch.stack(smooth_frames(10, 36, 48, seed=i)).permute(0, 2, 3, 1).numpy()
        write_frames(hwc, root / f"v{i}")
        lines.append(f"v{i} 1 10 {i % 2}")
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    return root


def _cfg(root, **over):
    return resolve_data_config({"name": "fast", "root": str(root), "train_list": "list.txt", "val_list": "list.txt",
                                "num_classes": 2, "resize": 36, "crop": 32, "scales": list(SCALES), "flip": True,
                                "num_workers": 0, **over})


MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.mark.parametrize("train,crops", [(True, 1), (False, 1), (False, 3), (False, 10)])
def test_model_input_equals_the_former_normalised_items(folders, train, crops):
    loader = build_loader(_cfg(folders), "train", frames=4, mean=MEAN, std=STD, train=train, batch_size=2,
                          num_crops=crops, seed=7)
    ds = loader.dataset
    ds.set_epoch(1)
    for index in range(4):
        item = ds[index]
        assert item["video"].dtype == torch.uint8
        entry = ds.entries[index]
        (positions,) = ds.positions(index, 10)
        raw = FrameFolder(entry.path, 1, 10, "{:05d}.jpg", "x").read(positions)
        if train:
            refs = [ref_train_view(raw, 36, 32, SCALES, True, ds.rng(index, stream=1))]
        else:
            refs = ref_eval_views(raw, 36, 32, crops)
        expected = torch.stack([ref_normalize(v, MEAN, STD) for v in refs])
        got = loader.model_input(item["video"], "cpu")
        assert got.is_contiguous() and got.dtype == torch.float32
        assert torch.equal(got, expected[0] if len(refs) == 1 else expected)


def test_model_input_normalises_by_hand_computed_values_without_touching_its_input():
    loader = VideoLoader([], seed=0, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0), batch_size=1)
    video = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 3, 1, 1, 1).expand(2, 3, 2, 2, 2)
    x = loader.model_input(video, "cpu")
    # channel c of grey g: (g / 255 - mean_c) / std_c
    assert torch.allclose(x[:, 0], torch.tensor(-1.0)) and torch.allclose(x[:, 1], torch.tensor(-0.2))
    assert torch.allclose(x[:, 2], torch.tensor(1.0)) and x.shape == (2, 3, 2, 2, 2) and x.is_contiguous()
    float_input = torch.full((1, 3, 1, 1, 1), 255.0)
    loader.model_input(float_input, "cpu")
    assert float(float_input.min()) == 255.0  # never normalised in place


def test_stack_in_memory_order_keeps_values_and_layout():
    clips = [torch.randint(0, 255, (4, 5, 6, 3), dtype=torch.uint8).permute(3, 0, 1, 2) for _ in range(3)]
    stacked = stack_in_memory_order(clips)
    assert torch.equal(stacked, torch.stack(clips))
    assert stacked.stride(1) == 1  # channels stay innermost: no element reordering
    mixed = [clips[0], clips[1].contiguous()]
    assert torch.equal(stack_in_memory_order(mixed), torch.stack(mixed))


def test_mixed_frame_sizes_are_a_named_data_error(tmp_path):
    write_frames(np.zeros((3, 16, 16, 3), np.uint8), tmp_path / "v")
    write_frames(np.zeros((1, 20, 16, 3), np.uint8), tmp_path / "v", first=4)
    (tmp_path / "list.txt").write_text("v 1 4 0\n")
    cfg = resolve_data_config({"name": "mixed", "root": str(tmp_path), "train_list": "list.txt",
                               "val_list": "list.txt", "num_classes": 1, "resize": 16, "crop": 16})
    ds = build_dataset(cfg, "val", frames=4, mean=MEAN, std=STD, train=False)
    with pytest.raises(DataError, match=r"list.txt:1: .*mixes frame sizes \(16x16, 16x20\)"):
        ds[0]


def test_the_centre_view_equals_the_ten_crops_centre_after_a_resize():
    """What lets clip_count derive a 1-crop test from a 10-crop one: the same pixels."""
    frames = smooth_frames(2, 80, 108, cell=16)
    (centre,) = render(frames, eval_views(80, 108, resize=40, crop=32, num_crops=1))
    ten = render(frames, eval_views(80, 108, resize=40, crop=32, num_crops=10))
    assert torch.equal(centre, ten[4])
