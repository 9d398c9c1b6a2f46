"""`stbench data index ROOT --out LIST` then `stbench data check LIST`, and training on what index wrote."""

from pathlib import Path

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.data import build_dataset, resolve_data_config
from benchmark.data.dataset_config import dataset_file_beside
from benchmark.data.encode import write_video
from benchmark.engine import load_run_config
from benchmark.errors import ConfigError

STEP = 40  # video v of a class is flat grey STEP * (v + 1): its value identifies it through compression


def _tree(root: Path) -> None:
    """<class>/<video> tree: walk (2 videos, mp4 + webm), run (1 mp4), a non-video file ignored."""
    for cls, names in (("walk", ["a.mp4", "b.webm"]), ("run", ["c.mp4"])):
        for v, name in enumerate(names):
            write_video(np.full((6, 16, 16, 3), STEP * (v + 1), np.uint8), root / cls / name)
    (root / "run" / "notes.txt").write_text("not a video")


@pytest.fixture()
def indexed(tmp_path, capsys, monkeypatch):
    """The sequence as a user types it, from the folder holding the data (relative paths)."""
    monkeypatch.chdir(tmp_path)
    _tree(tmp_path / "hmdb" / "train")
    assert main(["data", "index", "hmdb/train", "--out", "lists/train.txt"]) == 0
    return tmp_path, capsys.readouterr().out


def test_index_then_check_works_without_flags(indexed, capsys, monkeypatch):
    tmp_path, out = indexed
    # index tells the exact commands to run next
    assert "stbench data check lists/train.txt" in out
    assert "stbench train TSN-ResNet18-f8 --dataset lists/train.dataset.yaml" in out
    assert (tmp_path / "lists/train.txt").read_text() == "run/c.mp4 0\nwalk/a.mp4 1\nwalk/b.webm 1\n"
    assert main(["data", "check", "lists/train.txt"]) == 0
    report = capsys.readouterr().out
    assert report.strip() == f"checked 3 entries of {tmp_path / 'lists/train.txt'}: 0 problem(s)"
    # from another directory too: the dataset file holds absolute paths
    monkeypatch.chdir(tmp_path / "lists")
    assert main(["data", "check", "train.txt", "--quick"]) == 0


def test_check_through_the_dataset_file_finds_a_damaged_video(indexed, capsys):
    tmp_path, _ = indexed
    video = tmp_path / "hmdb/train/walk/a.mp4"
    video.write_bytes(video.read_bytes()[:200])  # the data really is read from the recorded root
    assert main(["data", "check", "lists/train.txt"]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{tmp_path / 'lists/train.txt'}:2: cannot open video {video}")
    assert "checked 3 entries" in captured.err and "1 problem(s)" in captured.err


def test_dataset_file_records_root_classes_and_format(indexed):
    tmp_path, _ = indexed
    cfg = resolve_data_config("lists/train.dataset.yaml")
    assert (cfg.name, cfg.format, cfg.num_classes, cfg.decoder) == ("hmdb", "video", 2, "pyav")
    assert Path(cfg.root) == tmp_path / "hmdb/train"
    assert Path(cfg.classes).read_text() == "run\nwalk\n"
    assert Path(cfg.train_list) == Path(cfg.val_list) == tmp_path / "lists/train.txt"


def test_train_command_form_resolves_to_the_indexed_dataset(indexed):
    """`stbench train MODEL --dataset lists/train.dataset.yaml [--set dataset.KEY=...]` as the CLI builds it."""
    tmp_path, _ = indexed
    cfg = load_run_config({"model": "TSN-ResNet18-f8", "dataset": "lists/train.dataset.yaml"}, "train")
    assert cfg.num_classes == 2 and cfg.dataset["root"] == str(tmp_path / "hmdb/train")
    # --set dataset.resize=32 turns the file name into {preset: FILE, resize: 32}
    cfg = load_run_config({"model": "TSN-ResNet18-f8",
                           "dataset": {"preset": "lists/train.dataset.yaml", "resize": 32, "crop": 32}}, "train")
    ds = build_dataset(cfg.dataset, "train", frames=2, mean=(0, 0, 0), std=(1, 1, 1), train=False)
    sample = ds[2]  # walk/b.webm: label 1, grey 2 * STEP
    assert sample["label"] == 1
    assert round(float(sample["video"].float().mean()) / STEP) == 2  # uint8 items


def test_validation_list_indexed_with_the_training_classes(indexed, capsys):
    tmp_path, _ = indexed
    write_video(np.full((6, 16, 16, 3), STEP, np.uint8), tmp_path / "hmdb/val/walk/d.mp4")
    argv = ["data", "index", "hmdb/val", "--out", "lists/val.txt", "--classes-from", "lists/classes.txt"]
    assert main(argv) == 0
    assert f"--set dataset.val_list={tmp_path / 'lists/val.txt'}" in capsys.readouterr().out
    assert (tmp_path / "lists/val.txt").read_text() == "walk/d.mp4 1\n"  # walk is label 1 of the training classes
    assert main(["data", "check", "lists/val.txt"]) == 0


def test_check_reports_a_classes_file_that_disagrees_with_num_classes(indexed, capsys):
    tmp_path, _ = indexed
    (tmp_path / "lists/classes.txt").write_text("run\nwalk\njump\n")
    assert main(["data", "check", "lists/train.txt"]) == 1
    assert capsys.readouterr().out == f"{tmp_path / 'lists/classes.txt'}: 3 class names but num_classes=2\n"


def test_check_of_a_list_without_dataset_file_asks_for_num_classes(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("a.mp4 0\n")
    assert main(["data", "check", str(tmp_path / "mine.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"stbench data: error: {tmp_path / 'mine.txt'}: --num-classes is required")
    assert "mine.dataset.yaml" in err


def test_flags_override_the_dataset_file(indexed, capsys):
    tmp_path, _ = indexed
    # num_classes 1 makes label 1 (walk) out of range: the flag, not the file, is used
    assert main(["data", "check", "lists/train.txt", "--num-classes", "1"]) == 1
    assert "label 1 outside the class range 0..0" in capsys.readouterr().out


def test_dataset_file_relative_root_is_taken_from_its_folder(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    (tmp_path / "d/set.yaml").write_text("root: videos\ntrain_list: t.txt\nval_list: t.txt\nnum_classes: 3\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_data_config("d/set.yaml").path("t.txt") == Path("d/videos/t.txt")
    (tmp_path / "d/bad.yaml").write_text("root: videos\nnum_klasses: 3\n")
    with pytest.raises(ConfigError, match="num_klasses"):
        resolve_data_config("d/bad.yaml")


def test_dataset_file_name_beside_the_list():
    assert dataset_file_beside(Path("a/train.txt")) == Path("a/train.dataset.yaml")
    assert dataset_file_beside(Path("a/k400.val.csv")) == Path("a/k400.val.dataset.yaml")
