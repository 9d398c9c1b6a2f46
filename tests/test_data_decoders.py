"""Video decoders (``decoder: pyav | torchcodec``): the same frames for the same positions, clear errors."""

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.cli import main
from benchmark.data import build_dataset, resolve_data_config
from benchmark.data.decoders import DECODERS, VideoDecoder, register_decoder
from benchmark.data.decoders.torchcodec import _video_decoder_class
from benchmark.data.encode import write_video
from benchmark.data.sampling import dense_train, uniform_test, uniform_train
from benchmark.errors import ConfigError, DataError


def _torchcodec_missing() -> str | None:
    """Why the torchcodec tests cannot run here (None when they can)."""
    try:
        _video_decoder_class()
    except ConfigError as exc:
        return str(exc)
    return None


needs_torchcodec = pytest.mark.skipif(_torchcodec_missing() is not None, reason=str(_torchcodec_missing()))

N = 45  # frames per test video: not a multiple of the key-frame interval or of the segments


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Textured colour videos (chroma matters for RGB conversion) with key frames every 10."""
    root = tmp_path_factory.mktemp("dec")
    rng = np.random.default_rng(3)
    coarse = rng.integers(0, 256, size=(N, 12, 16, 3), dtype=np.uint8)
    frames = np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2)  # 48x64, 4x4 blocks
    for suffix in (".mp4", ".webm"):
        write_video(frames, root / f"v{suffix}", keyint=10)
    return root


def _positions() -> dict[str, list[int]]:
    rng = np.random.default_rng(0)
    return {
        "sparse train": uniform_train(N, 8, rng),
        "sparse test, 2 clips": [p for clip in uniform_test(N, 8, num_clips=2) for p in clip],
        "dense": dense_train(N, 8, 2, rng),
        "unsorted, repeated, past the end": [40, 3, 3, 44, 0, 50],
    }


@needs_torchcodec
@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
@pytest.mark.parametrize("kind", list(_positions()))
def test_torchcodec_gives_pyav_frames(videos, suffix, kind):
    positions = _positions()[kind]
    pyav = DECODERS.get("pyav")(videos / f"v{suffix}", "x:1")
    codec = DECODERS.get("torchcodec")(videos / f"v{suffix}", "x:1")
    assert pyav.num_frames == codec.num_frames == N
    a, b = pyav.read(positions), codec.read(positions)
    assert a.dtype == b.dtype == torch.uint8 and a.shape == b.shape == (len(positions), 3, 48, 64)
    # Both convert YUV 4:2:0 to RGB with FFmpeg's swscale at default settings: bit-identical.
    assert torch.equal(a, b)


@needs_torchcodec
def test_torchcodec_dataset_clips_equal_pyav_clips(videos):
    (videos / "list.txt").write_text("v.mp4 0\nv.webm 1\n")
    clips = {}
    for decoder in ("pyav", "torchcodec"):
        cfg = resolve_data_config(dict(root=str(videos), train_list="list.txt", val_list="list.txt", num_classes=2,
                                       format="video", decoder=decoder, resize=48, crop=48, num_workers=0))
        ds = build_dataset(cfg, "train", frames=8, mean=(0, 0, 0), std=(1, 1, 1), train=True, seed=5)
        clips[decoder] = [ds[i]["video"] for i in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(clips["pyav"], clips["torchcodec"]))


@needs_torchcodec
@pytest.mark.parametrize("decoder", ["pyav", "torchcodec"])
def test_check_with_each_decoder_reports_a_damaged_video(videos, decoder, capsys):
    bad = videos / "bad.webm"
    data = (videos / "v.webm").read_bytes()
    bad.write_bytes(data[: len(data) // 3])  # a third of the clusters: truncated
    (videos / "check.txt").write_text("v.mp4 0\nbad.webm 1\n")
    argv = ["data", "check", str(videos / "check.txt"), "--num-classes", "2", "--decoder", decoder]
    assert main(argv) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(f"{videos / 'check.txt'}:2: ") and "bad.webm" in out[0]


def test_missing_torchcodec_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torchcodec", None)  # import torchcodec -> ImportError
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", None)
    write_video(np.zeros((4, 16, 16, 3), np.uint8), tmp_path / "a.mp4")
    (tmp_path / "l.txt").write_text("a.mp4 0\n")
    cfg = resolve_data_config(dict(root=str(tmp_path), train_list="l.txt", val_list="l.txt", num_classes=1,
                                   format="video", decoder="torchcodec"))
    with pytest.raises(ConfigError, match=r"pip install stbench\[torchcodec\]"):
        build_dataset(cfg, "train", frames=2, mean=(0, 0, 0), std=(1, 1, 1), train=False)
    argv = ["data", "check", str(tmp_path / "l.txt"), "--num-classes", "1", "--decoder", "torchcodec"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install stbench[torchcodec]" in err


class _NoFFmpeg(types.ModuleType):
    """Stands for ``torchcodec.decoders`` on a machine without FFmpeg: loading it fails as TorchCodec does."""

    def __getattr__(self, name):
        raise RuntimeError("Could not load libtorchcodec. Likely causes:\n 1. FFmpeg is not properly installed")


def test_missing_ffmpeg_libraries_are_one_line_saying_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", _NoFFmpeg("torchcodec.decoders"))
    with pytest.raises(ConfigError) as info:
        DECODERS.get("torchcodec").require()
    message = str(info.value)
    assert "\n" not in message and "Could not load libtorchcodec" in message
    assert "apt-get install ffmpeg" in message and "pip install stbench[torchcodec]" in message


def test_unknown_decoder_lists_the_choices():
    with pytest.raises(ConfigError, match="decoder.*pyav.*torchcodec"):
        resolve_data_config(dict(root=".", train_list="t", val_list="t", num_classes=2, decoder="opencv"))


class _Counting(VideoDecoder):
    """A plugin decoder made in the test: frame p is flat grey p (no file is decoded)."""

    def __init__(self, path: Path, where: str):
        if not path.is_file():
            raise DataError(f"{where}: video {path} does not exist")
        self.num_frames = 12

    def read(self, positions):
        return torch.stack([torch.full((3, 8, 8), min(p, 11), dtype=torch.uint8) for p in positions])


def test_a_registered_decoder_is_used_by_the_video_format(tmp_path):
    if "test-counting" not in DECODERS:
        register_decoder("test-counting")(_Counting)
    (tmp_path / "x.mp4").write_bytes(b"")
    (tmp_path / "l.txt").write_text("x.mp4 0\n")
    cfg = resolve_data_config(dict(root=str(tmp_path), train_list="l.txt", val_list="l.txt", num_classes=1,
                                   format="video", decoder="test-counting", resize=8, crop=8))
    ds = build_dataset(cfg, "val", frames=4, mean=(0, 0, 0), std=(1, 1, 1), train=False)
    # test positions of 4 segments of 12 frames: int(3 * (k + 1/2)) = 1, 4, 7, 10
    values = [round(float(ds[0]["video"][:, t].float().mean())) for t in range(4)]  # uint8 items
    assert values == [1, 4, 7, 10]


def test_torchcodec_without_the_system_ffmpeg_is_one_config_error(monkeypatch):
    """TorchCodec imports without FFmpeg and fails only at the first video: the decoder says so first."""
    from benchmark.data.decoders import torchcodec as module

    pytest.importorskip("torchcodec")
    monkeypatch.setattr(module, "_ffmpeg_installed", lambda: False)
    with pytest.raises(ConfigError, match=r"system FFmpeg libraries are not installed.*apt-get install ffmpeg"):
        _video_decoder_class()
