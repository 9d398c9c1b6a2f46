"""Dataset formats as registered readers: a plugin format from one file outside the package, the
registry check of ``format:``, and the CLI's sniffing of a list's format."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmark.data import build_loader, resolve_data_config
from benchmark.data.formats import FORMATS, sniff_format
from benchmark.errors import ConfigError

# The whole plugin: the one file a user writes for a new dataset format.
NPY_PLUGIN = '''
"""Each video stored as a NumPy array (T, H, W, 3) uint8, listed as `<file>.npy <label>`."""
import numpy as np
import torch

from benchmark.data import FormatReader, register_format
from benchmark.errors import DataError


class ArrayFrames:
    def __init__(self, array):
        self.array, self.num_frames = array, len(array)

    def read(self, positions):
        return torch.from_numpy(np.ascontiguousarray(self.array[positions])).permute(0, 3, 1, 2)


@register_format("npy")
class NpyArrays(FormatReader):
    def open(self, cfg, entry):
        try:
            return ArrayFrames(np.load(entry.path, mmap_mode="r"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{entry.where}: cannot read {entry.path} ({exc})") from exc

    def claims(self, fields):
        return len(fields) == 2 and fields[0].endswith(".npy")
'''

# Runs in a fresh interpreter with the plugin on STBENCH_PLUGINS: loads a clip through the normal
# loader path and prints what the test compares.
READ_CLIP = '''
import json, sys
import numpy as np
from benchmark.cli import main
from benchmark.data import DataConfig, build_loader
from benchmark.data.formats import FORMATS

root = sys.argv[1]
cfg = DataConfig(root=root, train_list="list.txt", val_list="list.txt", num_classes=2, format="npy",
                 resize=8, crop=8, scales=(1.0,), flip=False, num_workers=0)
loader = build_loader(cfg, "val", frames=4, mean=(0.0,) * 3, std=(1.0,) * 3, train=False, batch_size=2)
batch = next(iter(loader))
clips = batch["video"].permute(0, 2, 3, 4, 1).numpy()  # uint8 batches
np.save(root + "/clips.npy", clips)
rc = main(["data", "check", root + "/list.txt", "--num-classes", "2"])
print(json.dumps({"formats": FORMATS.names(), "labels": batch["label"].tolist(), "check_rc": rc}))
'''


def test_plugin_format_reads_a_clip_through_the_loader(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "npy_videos.py").write_text(NPY_PLUGIN)
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    videos = [rng.integers(0, 256, size=(10, 8, 8, 3), dtype=np.uint8) for _ in range(2)]
    for i, v in enumerate(videos):
        np.save(data / f"v{i}.npy", v)
    (data / "list.txt").write_text("v0.npy 1\nv1.npy 0\n")
    env = {**os.environ, "STBENCH_PLUGINS": "npy_videos",
           "PYTHONPATH": os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", READ_CLIP, str(data)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "npy" in report["formats"] and {"frames", "video"} <= set(report["formats"])
    assert report["labels"] == [1, 0]
    assert report["check_rc"] == 0  # `data check --format auto` told the list is npy
    # Test-time uniform sampling of 4 frames from 10: segment centres int(1.25 + 2.5 k) = 1, 3, 6, 8.
    clips = np.load(data / "clips.npy")
    assert clips.shape == (2, 4, 8, 8, 3)
    for clip, video in zip(clips, videos):
        np.testing.assert_array_equal(clip, video[[1, 3, 6, 8]])


def test_format_field_is_checked_against_the_registry():
    with pytest.raises(ConfigError, match=r"dataset custom: format: unknown dataset format 'npz' "
                                          r"\(choices: .*frames.*video"):
        resolve_data_config(dict(root=".", train_list="a", val_list="b", num_classes=2, format="npz"))


def test_builtin_formats_claim_their_list_lines(tmp_path):
    frames, video, odd = tmp_path / "f.txt", tmp_path / "v.txt", tmp_path / "o.txt"
    frames.write_text("clips/a 1 30 2\n")
    video.write_text("\nclips/a.webm 2\n")  # leading blank line: the first non-empty one counts
    odd.write_text("clips/a 2 3\n")
    assert sniff_format(frames, None) == "frames"
    assert sniff_format(video, None) == "video"
    spaced = tmp_path / "s.txt"
    spaced.write_text("my clips/a;1;30;2\n")  # Kinetics-style: ';' because paths hold spaces
    assert sniff_format(spaced, ";") == "frames"
    with pytest.raises(ConfigError, match=r"o\.txt:1: cannot tell the dataset format"):
        sniff_format(odd, None)
    assert FORMATS["frames"].name == "frames"


def test_three_crop_batches_keep_the_resized_frame(tmp_path):
    """The one shape rule: 3-crop testing gives resize x resize views, also for an all-bad batch."""
    from benchmark.data.encode import write_frames

    write_frames(np.zeros((6, 16, 24, 3), np.uint8), tmp_path / "a")
    (tmp_path / "list.txt").write_text("a 1 6 0\nmissing 1 6 0\n")
    cfg = resolve_data_config(dict(root=str(tmp_path), train_list="list.txt", val_list="list.txt", num_classes=1,
                                   resize=16, crop=12, on_bad_sample="skip", num_workers=0))
    loader = build_loader(cfg, "val", frames=2, mean=(0.5,) * 3, std=(0.5,) * 3, train=False, batch_size=1,
                          num_clips=2, num_crops=3)
    good, bad = list(loader)
    assert tuple(good["video"].shape) == (1, 6, 3, 2, 16, 16)
    assert tuple(bad["video"].shape) == (0, 6, 3, 2, 16, 16) and bad["skipped"] == 1
    assert loader.dataset.sample_shape == (6, 3, 2, 16, 16)
    single = build_loader(cfg, "val", frames=2, mean=(0.5,) * 3, std=(0.5,) * 3, train=False, batch_size=1)
    assert single.dataset.sample_shape == (3, 2, 12, 12) == tuple(next(iter(single))["video"].shape[1:])
