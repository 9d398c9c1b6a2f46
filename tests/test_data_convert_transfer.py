"""The transfer-learning converters (UCF101, HMDB51, Jester) on small files in each official format.

The expected list lines are written out by hand from the fixtures: frame lists are
``<folder> 1 <number of JPEGs> <label>``, video lists ``<file> <label>``.
"""

from fractions import Fraction

import av
import numpy as np
import pytest

from benchmark.cli import main
from benchmark.data import build_dataset, resolve_data_config
from benchmark.data.convert import convert_hmdb51, convert_jester, convert_ucf101
from benchmark.data.encode import write_frames
from benchmark.errors import DataError

MEAN, STD = (0.5,) * 3, (0.5,) * 3


def _frames(n, h=16, w=16):
    return np.random.default_rng(n).integers(0, 255, size=(n, h, w, 3), dtype=np.uint8)


def _write_avi(frames, path):
    """An MPEG-4 Part 2 ``.avi``, the container and codec family of the UCF101/HMDB51 releases."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _convert(*argv):
    return main(["data", "convert", *map(str, argv)])


# --------------------------------------------------------------------------- UCF101
def _ucf_annotations(tmp_path):
    # The official files end lines with CRLF; classInd ids are 1-based.
    (tmp_path / "classInd.txt").write_bytes(b"1 ApplyEyeMakeup\r\n2 Archery\r\n3 HandstandPushups\r\n")
    (tmp_path / "trainlist01.txt").write_bytes(
        b"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\n"
        b"HandstandPushups/v_HandStandPushups_g08_c01.avi 3\r\n"  # spelled so in the official lists
        b"Archery/v_Archery_g08_c02.avi 2\r\n"
        b"Archery/v_Archery_g09_c01.avi 2\r\n")  # never extracted: left out, reported
    (tmp_path / "testlist01.txt").write_bytes(  # no class ids: the folder names the class
        b"Archery/v_Archery_g01_c01.avi\r\nApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\n")


def test_ucf101_frames_labels_from_zero_and_test_labels_from_the_folder(tmp_path, capsys):
    _ucf_annotations(tmp_path)
    root = tmp_path / "frames"
    write_frames(_frames(5), root / "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01")
    write_frames(_frames(4), root / "HandstandPushups/v_HandstandPushups_g08_c01")  # as on disk
    write_frames(_frames(3), root / "Archery/v_Archery_g08_c02")
    write_frames(_frames(6), root / "Archery/v_Archery_g01_c01")
    write_frames(_frames(2), root / "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01")
    assert _convert("ucf101", "--train", tmp_path / "trainlist01.txt", "--val", tmp_path / "testlist01.txt",
                    "--labels", tmp_path / "classInd.txt", "--root", root, "--out", tmp_path / "lists",
                    "--missing-log", tmp_path / "missing.txt") == 0
    assert (tmp_path / "lists/train.txt").read_text() == (
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01 1 5 0\n"
        "HandstandPushups/v_HandstandPushups_g08_c01 1 4 2\n"
        "Archery/v_Archery_g08_c02 1 3 1\n")
    assert (tmp_path / "lists/val.txt").read_text() == (
        "Archery/v_Archery_g01_c01 1 6 1\nApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01 1 2 0\n")
    assert (tmp_path / "lists/classes.txt").read_text() == "ApplyEyeMakeup\nArchery\nHandstandPushups\n"
    assert "v_Archery_g09_c01" in (tmp_path / "missing.txt").read_text()
    assert "1 videos left out" in capsys.readouterr().err
    cfg = resolve_data_config({"preset": "ucf101", "root": str(root), "train_list": str(tmp_path / "lists/train.txt"),
                               "val_list": str(tmp_path / "lists/val.txt"), "num_classes": 3, "resize": 16,
                               "crop": 16})
    ds = build_dataset(cfg, "val", frames=2, mean=MEAN, std=STD, train=False)
    assert [ds[i]["label"] for i in range(2)] == [1, 0]


def test_ucf101_videos(tmp_path):
    _ucf_annotations(tmp_path)
    root = tmp_path / "UCF-101"
    for rel in ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "HandstandPushups/v_HandstandPushups_g08_c01.avi",
                "Archery/v_Archery_g08_c02.avi", "Archery/v_Archery_g09_c01.avi", "Archery/v_Archery_g01_c01.avi"):
        _write_avi(_frames(6), root / rel)
    result = convert_ucf101(tmp_path / "trainlist01.txt", tmp_path / "testlist01.txt", tmp_path / "classInd.txt",
                            root, tmp_path / "lists", "video")
    assert result.counts == {"train": 4, "val": 1} and result.missing == [
        f"val: ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi (no video file {root}/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi)"]
    assert (tmp_path / "lists/train.txt").read_text().splitlines()[1] == \
        "HandstandPushups/v_HandstandPushups_g08_c01.avi 2"
    cfg = resolve_data_config({"preset": "ucf101", "root": str(root), "format": "video", "resize": 16, "crop": 16,
                               "train_list": str(tmp_path / "lists/train.txt"),
                               "val_list": str(tmp_path / "lists/val.txt"), "num_classes": 3})
    sample = build_dataset(cfg, "val", frames=4, mean=MEAN, std=STD, train=False)[0]
    assert sample["label"] == 1 and sample["video"].shape == (3, 4, 16, 16)


@pytest.mark.parametrize("which, content, message", [
    ("trainlist01.txt", b"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\nArchery/v_Archery_g08_c02.avi 1\r\n",
     r"trainlist01.txt:2: class id 1 disagrees with the folder 'Archery' \(id 2 in .*classInd.txt\)"),
    ("testlist01.txt", b"Archery/v_Archery_g01_c01.avi\r\n\r\nYoYo/v_YoYo_g01_c01.avi\r\n",
     r"testlist01.txt:3: class folder 'YoYo' is not in .*classInd.txt"),
    ("testlist01.txt", b"v_Archery_g01_c01.avi\r\n", r"testlist01.txt:1: expected '<class>/<video>.avi \[<class id>\]'"),
    ("classInd.txt", b"1 ApplyEyeMakeup\n3 Archery\n", r"classInd.txt: class ids must be 1..N .*from 1 to 3"),
    ("classInd.txt", b"0 ApplyEyeMakeup\n1 Archery\n", r"classInd.txt: class ids must be 1..N .*from 0 to 1"),
    ("classInd.txt", b"1 ApplyEyeMakeup\n2 ApplyEyeMakeup\n", r"classInd.txt:2: class id 2 or name 'ApplyEyeMakeup' given twice"),
    ("classInd.txt", b"ApplyEyeMakeup 1\n", r"classInd.txt:1: expected '<class id> <class name>'"),
])
def test_ucf101_bad_annotations_name_file_and_line(tmp_path, which, content, message):
    _ucf_annotations(tmp_path)
    (tmp_path / which).write_bytes(content)
    with pytest.raises(DataError, match=message):
        convert_ucf101(tmp_path / "trainlist01.txt", tmp_path / "testlist01.txt", tmp_path / "classInd.txt",
                       tmp_path, tmp_path / "lists")


# --------------------------------------------------------------------------- HMDB51
def _hmdb_splits(tmp_path):
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    # Official lines: "<video>.avi <id> " (trailing space); 1 train, 2 test, 0 in neither.
    (splits / "climb_test_split1.txt").write_text(
        "Rock_climbing_climb_f_cm_np1_ba_med_0.avi 1 \nclimbing_wall_climb_f_cm_np1_le_med_1.avi 2 \n"
        "Lets_go_climbing_climb_u_cm_np1_fr_med_2.avi 0 \n")
    (splits / "climb_stairs_test_split1.txt").write_text(
        "stairs_climb_stairs_f_cm_np1_ba_med_0.avi 2 \nup_the_stairs_climb_stairs_f_cm_np1_fr_bad_3.avi 1 \n")
    (splits / "brush_hair_test_split1.txt").write_text("April_09_brush_hair_u_nm_np1_ba_goo_0.avi 1 \n")
    # Split 2 of the same classes: a different assignment, not read for --split 1.
    (splits / "climb_test_split2.txt").write_text("Rock_climbing_climb_f_cm_np1_ba_med_0.avi 2 \n")
    (splits / "climb_stairs_test_split2.txt").write_text("stairs_climb_stairs_f_cm_np1_ba_med_0.avi 1 \n")
    (splits / "brush_hair_test_split2.txt").write_text("April_09_brush_hair_u_nm_np1_ba_goo_0.avi 0 \n")
    return splits


def test_hmdb51_split_ids_and_sorted_class_names(tmp_path, capsys):
    splits = _hmdb_splits(tmp_path)
    root = tmp_path / "frames"
    for rel, n in (("climb/Rock_climbing_climb_f_cm_np1_ba_med_0", 5), ("climb/climbing_wall_climb_f_cm_np1_le_med_1", 4),
                   ("climb_stairs/stairs_climb_stairs_f_cm_np1_ba_med_0", 3),
                   ("climb_stairs/up_the_stairs_climb_stairs_f_cm_np1_fr_bad_3", 7),
                   ("brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0", 2)):
        write_frames(_frames(n), root / rel)
    assert _convert("hmdb51", "--splits", splits, "--split", 1, "--root", root, "--out", tmp_path / "s1") == 0
    # Sorted class names: brush_hair < climb < climb_stairs (not the order of the file names,
    # where "climb_stairs_test..." sorts before "climb_test...").
    assert (tmp_path / "s1/classes.txt").read_text() == "brush_hair\nclimb\nclimb_stairs\n"
    assert (tmp_path / "s1/train.txt").read_text() == (
        "brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0 1 2 0\n"
        "climb/Rock_climbing_climb_f_cm_np1_ba_med_0 1 5 1\n"
        "climb_stairs/up_the_stairs_climb_stairs_f_cm_np1_fr_bad_3 1 7 2\n")
    assert (tmp_path / "s1/val.txt").read_text() == (
        "climb/climbing_wall_climb_f_cm_np1_le_med_1 1 4 1\nclimb_stairs/stairs_climb_stairs_f_cm_np1_ba_med_0 1 3 2\n")
    assert "hmdb51: 3 classes, train: 3, val: 2" in capsys.readouterr().out
    result = convert_hmdb51(splits, 2, root, tmp_path / "s2")
    assert (tmp_path / "s2/train.txt").read_text() == "climb_stairs/stairs_climb_stairs_f_cm_np1_ba_med_0 1 3 2\n"
    assert (tmp_path / "s2/val.txt").read_text() == "climb/Rock_climbing_climb_f_cm_np1_ba_med_0 1 5 1\n"
    assert result.counts == {"train": 1, "val": 1} and not result.missing


def test_hmdb51_videos_and_bad_split_files(tmp_path):
    splits = _hmdb_splits(tmp_path)
    root = tmp_path / "hmdb51"
    _write_avi(_frames(6), root / "climb/climbing_wall_climb_f_cm_np1_le_med_1.avi")
    result = convert_hmdb51(splits, 1, root, tmp_path / "v", "video")
    assert (tmp_path / "v/val.txt").read_text() == "climb/climbing_wall_climb_f_cm_np1_le_med_1.avi 1\n"
    assert result.counts == {"train": 0, "val": 1} and len(result.missing) == 4
    with pytest.raises(DataError, match=r"no '<class>_test_split4.txt' files .*splits found here: 1, 2"):
        convert_hmdb51(splits, 4, root, tmp_path / "o")
    (splits / "climb_test_split1.txt").write_text("a.avi 1 \nb.avi 3 \n")
    with pytest.raises(DataError, match=r"climb_test_split1.txt:2: expected '<video>.avi <0\|1\|2>'"):
        convert_hmdb51(splits, 1, root, tmp_path / "o")
    with pytest.raises(DataError, match="cannot list the split files"):
        convert_hmdb51(tmp_path / "absent", 1, root, tmp_path / "o")


# --------------------------------------------------------------------------- Jester
def _jester_annotations(tmp_path):
    (tmp_path / "jester-v1-labels.csv").write_text("Swiping Left\nSwiping Right\nNo gesture\n")
    (tmp_path / "jester-v1-train.csv").write_text("34870;Swiping Right\n56557;No gesture\n1;Swiping Left\n")
    (tmp_path / "jester-v1-validation.csv").write_text("9223;Swiping Left\n")


def test_jester_frame_folders_labels_in_file_order(tmp_path, capsys):
    _jester_annotations(tmp_path)
    root = tmp_path / "20bn-jester-v1"
    write_frames(_frames(6), root / "34870")
    write_frames(_frames(4), root / "56557")
    write_frames(_frames(5), root / "9223")  # video 1 has no frames: left out, reported
    assert _convert("jester", "--labels", tmp_path / "jester-v1-labels.csv", "--train", tmp_path / "jester-v1-train.csv",
                    "--val", tmp_path / "jester-v1-validation.csv", "--root", root, "--out", root) == 0
    assert (root / "train.txt").read_text() == "34870 1 6 1\n56557 1 4 2\n"
    assert (root / "val.txt").read_text() == "9223 1 5 0\n"
    assert (root / "classes.txt").read_text() == "Swiping Left\nSwiping Right\nNo gesture\n"
    assert "1 videos left out (not found); first: train: 1 (no frames in" in capsys.readouterr().err
    # The jester preset reads them (flip off: left/right is the label).
    cfg = resolve_data_config({"preset": "jester", "root": str(root), "num_classes": 3, "resize": 16, "crop": 16})
    assert not cfg.flip
    assert build_dataset(cfg, "val", frames=4, mean=MEAN, std=STD, train=False)[0]["label"] == 0


@pytest.mark.parametrize("which, content, message", [
    ("jester-v1-train.csv", "34870;Swiping Right\n56557,No gesture\n", r"jester-v1-train.csv:2: expected '<video id>;<label>'"),
    ("jester-v1-validation.csv", "9223;Swiping Up\n", r"jester-v1-validation.csv:1: label 'Swiping Up' is not in .*labels.csv"),
    ("jester-v1-labels.csv", "Swiping Left\nSwiping Left\n", r"jester-v1-labels.csv:2: class 'Swiping Left' given twice"),
])
def test_jester_bad_annotations_name_file_and_line(tmp_path, which, content, message):
    _jester_annotations(tmp_path)
    (tmp_path / which).write_text(content)
    with pytest.raises(DataError, match=message):
        convert_jester(tmp_path / "jester-v1-labels.csv", tmp_path / "jester-v1-train.csv",
                       tmp_path / "jester-v1-validation.csv", tmp_path, tmp_path / "o")


def test_convert_flags_per_dataset_are_one_line_errors(tmp_path, capsys):
    _jester_annotations(tmp_path)
    common = ["--root", tmp_path, "--out", tmp_path / "o"]
    assert _convert("hmdb51", "--splits", tmp_path, *common) == 2
    assert "convert hmdb51 needs --split" in capsys.readouterr().err
    assert _convert("ucf101", "--train", "a", "--val", "b", *common) == 2
    assert "convert ucf101 needs --labels" in capsys.readouterr().err
    assert _convert("kinetics", "--train", "a", "--val", "b", "--split", 1, *common) == 2
    assert "convert kinetics does not take --split" in capsys.readouterr().err
    assert _convert("jester", "--labels", tmp_path / "jester-v1-labels.csv", "--train", tmp_path / "jester-v1-train.csv",
                    "--val", tmp_path / "jester-v1-validation.csv", "--format", "video", *common) == 2
    assert "JPEG frame folders" in capsys.readouterr().err
    (tmp_path / "bad.csv").write_bytes(b"\xff\xfe1;x\n")
    assert _convert("jester", "--labels", tmp_path / "bad.csv", "--train", "a", "--val", "b", *common) == 2
    assert "bad.csv: not UTF-8 text" in capsys.readouterr().err
