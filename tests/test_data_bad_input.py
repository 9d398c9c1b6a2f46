"""Bad-input corpus: every case of issue 3 item 6, with on_bad_sample fail and skip, and `data check`."""

import re

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.data import build_dataset, build_loader, resolve_data_config
from benchmark.data.encode import write_frames, write_video
from benchmark.errors import DataError

MEAN, STD = (0.45,) * 3, (0.225,) * 3


def _frames(n):
    return np.random.default_rng(n).integers(0, 255, size=(n, 16, 16, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Frame list and video list with good entries and one entry per kind of bad input."""
    root = tmp_path_factory.mktemp("bad")
    for name in ("good0", "good1", "truncated"):
        write_frames(_frames(6), root / name)
    jpeg = (root / "truncated" / "00004.jpg").read_bytes()
    (root / "truncated" / "00004.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (root / "empty").mkdir()
    frame_lines = {
        "good0 1 6 0": None,
        "missing 1 6 1": "frame folder .*missing does not exist",
        "empty 1 6 1": "frame folder .*empty is empty",
        "truncated 1 6 2": "cannot decode frame .*00004.jpg",
        "good1 1 6": "expected 4 fields",
        "good1 1 six 1": "frame numbers must be integers",
        "good1 1 6 7": "label 7 outside the class range 0..3",
        "good1 1 6 3": None,
    }
    (root / "frames.txt").write_text("".join(line + "\n" for line in frame_lines))
    write_video(_frames(8), root / "good.mp4")
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    (root / "notavideo.webm").write_text("hello")
    # a decodable header whose stream stops a third of the way: the container still declares 60 frames
    write_video(_frames(60), root / "full.webm")
    data = (root / "full.webm").read_bytes()
    (root / "cut.webm").write_bytes(data[: len(data) // 3])
    video_lines = {
        "good.mp4 0": None,
        "corrupt.mp4 1": "cannot open video .*corrupt.mp4",
        "notavideo.webm 2": "cannot open video .*notavideo.webm",
        "cut.webm 2": "video .*cut.webm is truncated or damaged: .* of the 60 frames",
        "absent.mp4 1": "video .*absent.mp4 does not exist",
        "good.mp4 -1": "label -1 outside the class range",
        "good.mp4 1 extra": "expected 2 fields",
        "good.mp4 3": None,
    }
    (root / "videos.txt").write_text("".join(line + "\n" for line in video_lines))
    return root, frame_lines, video_lines


def _cfg(root, list_name, fmt, mode):
    return resolve_data_config(dict(root=str(root), train_list=list_name, val_list=list_name, num_classes=4,
                                    format=fmt, resize=16, crop=16, scales=[1.0], on_bad_sample=mode,
                                    num_workers=0))


CASES = [("frames.txt", "frames", 1), ("videos.txt", "video", 2)]


@pytest.mark.parametrize("list_name,fmt,_", CASES)
def test_fail_mode_names_file_line_and_reason_for_each_bad_entry(corpus, list_name, fmt, _):
    root, *tables = corpus
    table = tables[0] if fmt == "frames" else tables[1]
    bad_lines = [i for i, reason in enumerate(table.values()) if reason]
    # malformed list lines are reported when the dataset is built (the first one, and a count)
    cfg = _cfg(root, list_name, fmt, "fail")
    with pytest.raises(DataError, match=re.escape(f"{root / list_name}:")):
        build_dataset(cfg, "train", frames=4, mean=MEAN, std=STD, train=True)
    # every bad entry fails with its own file:line and reason when loaded
    ds = build_dataset(_cfg(root, list_name, fmt, "skip"), "train", frames=4, mean=MEAN, std=STD, train=True)
    ds.cfg = cfg
    for i, reason in enumerate(table.values()):
        if reason is None:
            assert ds[i]["video"].shape == (3, 4, 16, 16)
            continue
        with pytest.raises(DataError) as err:
            ds[i]
        assert re.search(rf"{re.escape(str(root / list_name))}:{i + 1}: .*{reason}", str(err.value)), str(err.value)
    assert len(bad_lines) >= 5


@pytest.mark.parametrize("list_name,fmt,workers", CASES)
def test_skip_mode_drops_and_counts_bad_samples(corpus, list_name, fmt, workers):
    root, *tables = corpus
    table = tables[0] if fmt == "frames" else tables[1]
    loader = build_loader(_cfg(root, list_name, fmt, "skip"), "val", frames=4, mean=MEAN, std=STD, train=False,
                          batch_size=3, num_workers=workers)
    skipped, indices = 0, []
    for batch in loader:
        skipped += batch["skipped"]
        indices += batch["index"].tolist()
        assert batch["video"].shape[1:] == (3, 4, 16, 16)
        assert len(batch["video"]) == len(batch["label"]) == len(batch["index"])
    assert indices == [i for i, reason in enumerate(table.values()) if reason is None]
    assert skipped == sum(reason is not None for reason in table.values())


@pytest.mark.parametrize("list_name,fmt,_", CASES)
def test_check_command_reports_every_bad_entry(corpus, capsys, list_name, fmt, _):
    root, *tables = corpus
    table = tables[0] if fmt == "frames" else tables[1]
    rc = main(["data", "check", str(root / list_name), "--num-classes", "4"])
    out = capsys.readouterr()
    assert rc == 1
    reported = out.out.strip().splitlines()
    expected = [(i, reason) for i, reason in enumerate(table.values()) if reason]
    assert len(reported) == len(expected)
    for line, (i, reason) in zip(reported, expected):
        assert re.search(rf"{re.escape(str(root / list_name))}:{i + 1}: .*{reason}", line), line
    assert f"{len(expected)} problem(s)" in out.err


def test_check_command_passes_a_clean_list(corpus, capsys):
    root, *_ = corpus
    (root / "clean.txt").write_text("good0 1 6 0\ngood1 1 6 3\n")
    assert main(["data", "check", str(root / "clean.txt"), "--num-classes", "4"]) == 0
    assert "0 problem(s)" in capsys.readouterr().out


def test_all_bad_batch_is_empty_but_counted(corpus):
    root, *_ = corpus
    loader = build_loader(_cfg(root, "frames.txt", "frames", "skip"), "val", frames=4, mean=MEAN, std=STD,
                          train=False, batch_size=2)
    batches = list(loader)
    assert batches[1]["video"].shape == (0, 3, 4, 16, 16) and batches[1]["skipped"] == 2  # missing, empty
