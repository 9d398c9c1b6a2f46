"""Converters on fixtures in each dataset's official annotation format; mini, index, extract, synth CLI."""

import json

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.data import build_dataset, resolve_data_config
from benchmark.data.encode import write_frames, write_video
from benchmark.data.prepare import shipped_classes
from benchmark.errors import DataError

MEAN, STD = (0.5,) * 3, (0.5,) * 3


def _frames(n, h=16, w=16):
    return np.random.default_rng(n).integers(0, 255, size=(n, h, w, 3), dtype=np.uint8)


def test_convert_ssv2(tmp_path, capsys):
    labels = {"Approaching something with your camera": "0", "Moving something up": "1",
              "Pushing something from left to right": "2"}
    train = [{"id": "78687", "label": "moving a pen up", "template": "Moving [something] up",
              "placeholders": ["a pen"]},
             {"id": "42326", "label": "approaching a cup with your camera",
              "template": "Approaching [something] with your camera", "placeholders": ["a cup"]},
             {"id": "100", "label": "moving a cup up", "template": "Moving [something] up", "placeholders": ["a cup"]}]
    val = [{"id": "24", "label": "pushing a box from left to right",
            "template": "Pushing [something] from left to right", "placeholders": ["a box"]}]
    for name, data in (("labels.json", labels), ("train.json", train), ("validation.json", val)):
        (tmp_path / name).write_text(json.dumps(data))
    frames = tmp_path / "frames"
    write_frames(_frames(5), frames / "78687")
    write_frames(_frames(3), frames / "42326")
    write_frames(_frames(4), frames / "24")  # video 100 has no frames: left out and reported
    rc = main(["data", "convert", "ssv2", "--labels", str(tmp_path / "labels.json"), "--train",
               str(tmp_path / "train.json"), "--val", str(tmp_path / "validation.json"), "--root", str(frames),
               "--out", str(tmp_path / "lists")])
    assert rc == 0
    assert "1 videos left out" in capsys.readouterr().err
    assert (tmp_path / "lists/train.txt").read_text() == "78687 1 5 1\n42326 1 3 0\n"
    assert (tmp_path / "lists/val.txt").read_text() == "24 1 4 2\n"
    assert (tmp_path / "lists/classes.txt").read_text().splitlines() == list(labels)
    cfg = resolve_data_config(dict(root=str(frames), train_list=str(tmp_path / "lists/train.txt"),
                                   val_list=str(tmp_path / "lists/val.txt"), num_classes=3, resize=16, crop=16))
    assert build_dataset(cfg, "val", frames=2, mean=MEAN, std=STD, train=False)[0]["label"] == 2


def test_convert_kinetics_csv_with_spaces_uses_semicolons(tmp_path):
    (tmp_path / "train.csv").write_text(
        "label,youtube_id,time_start,time_end,split,is_cc\n"
        "air drumming,-VxI2ZqFxpk,12,22,train,0\n"
        "abseiling,--2RO5fr1Pg,0,10,train,0\n"
        "abseiling,absent00001,30,40,train,0\n")
    (tmp_path / "validate.csv").write_text(
        "label,youtube_id,time_start,time_end,split\n"
        '"air drumming",0aBcDeFgHiJ,5,15,val\n')
    root = tmp_path / "k400"
    write_frames(_frames(4), root / "train/air drumming/-VxI2ZqFxpk_000012_000022")
    write_frames(_frames(6), root / "train/abseiling/--2RO5fr1Pg_000000_000010")
    write_frames(_frames(3), root / "val/air drumming/0aBcDeFgHiJ_000005_000015")
    assert main(["data", "convert", "kinetics", "--train", str(tmp_path / "train.csv"), "--val",
                 str(tmp_path / "validate.csv"), "--root", str(root), "--out", str(root),
                 "--missing-log", str(tmp_path / "missing.txt")]) == 0
    assert (root / "train.txt").read_text() == (
        "train/air drumming/-VxI2ZqFxpk_000012_000022;1;4;1\ntrain/abseiling/--2RO5fr1Pg_000000_000010;1;6;0\n")
    assert (root / "val.txt").read_text() == "val/air drumming/0aBcDeFgHiJ_000005_000015;1;3;1\n"
    assert "absent00001" in (tmp_path / "missing.txt").read_text()
    cfg = resolve_data_config({"preset": "mini-kinetics", "root": str(root), "train_list": "train.txt",
                               "val_list": "val.txt", "num_classes": 2, "resize": 16, "crop": 16})
    ds = build_dataset(cfg, "train", frames=4, mean=MEAN, std=STD, train=True)
    assert [ds[i]["label"] for i in range(2)] == [1, 0]
    (tmp_path / "bad.csv").write_text("youtube_id,label\n")
    with pytest.raises(DataError, match="bad.csv:1: expected the Kinetics header"):
        from benchmark.data.convert import convert_kinetics
        convert_kinetics(tmp_path / "bad.csv", tmp_path / "validate.csv", root, tmp_path / "o")
    # a validation class the training set never had: file and line
    (tmp_path / "validate2.csv").write_text("label,youtube_id,time_start,time_end,split\n"
                                            "abseiling,a,0,10,val\nzumba,b,0,10,val\n")
    with pytest.raises(DataError, match=r"validate2.csv:3: class 'zumba' does not occur in .*train.csv"):
        convert_kinetics(tmp_path / "train.csv", tmp_path / "validate2.csv", root, tmp_path / "o")


def test_convert_moments_in_time_videos(tmp_path):
    (tmp_path / "trainingSet.csv").write_text("clapping/yt-1.mp4,clapping,3,0\nyawning/flickr-2.mp4,yawning,2,1\n")
    (tmp_path / "validationSet.csv").write_text("yawning/yt-9.mp4,yawning,3,0\n")
    (tmp_path / "moments_categories.txt").write_text("yawning,0\nclapping,1\n")
    root = tmp_path / "mit"
    for rel in ("training/clapping/yt-1.mp4", "training/yawning/flickr-2.mp4", "validation/yawning/yt-9.mp4"):
        write_video(_frames(6), root / rel)
    assert main(["data", "convert", "mit", "--train", str(tmp_path / "trainingSet.csv"), "--val",
                 str(tmp_path / "validationSet.csv"), "--categories", str(tmp_path / "moments_categories.txt"),
                 "--root", str(root), "--out", str(root), "--format", "video"]) == 0
    assert (root / "train.txt").read_text() == "training/clapping/yt-1.mp4 1\ntraining/yawning/flickr-2.mp4 0\n"
    assert (root / "val.txt").read_text() == "validation/yawning/yt-9.mp4 0\n"
    assert (root / "classes.txt").read_text() == "yawning\nclapping\n"
    cfg = resolve_data_config({"preset": "mini-mit", "root": str(root), "format": "video", "train_list": "train.txt",
                               "val_list": "val.txt", "num_classes": 2, "resize": 16, "crop": 16})
    assert build_dataset(cfg, "val", frames=4, mean=MEAN, std=STD, train=False)[0]["video"].shape == (3, 4, 16, 16)
    from benchmark.data.convert import convert_mit

    (tmp_path / "validationSet.csv").write_text("yawning/yt-9.mp4,yawning,3,0\nsinging/yt-7.mp4,singing,3,0\n")
    with pytest.raises(DataError, match=r"validationSet.csv:2: class 'singing' is not in the categories file"):
        convert_mit(tmp_path / "trainingSet.csv", tmp_path / "validationSet.csv", root, tmp_path / "o",
                    categories=tmp_path / "moments_categories.txt")


def test_mini_from_shipped_class_list_renumbers_in_sorted_order(tmp_path):
    mini = shipped_classes("mini-ssv2")
    assert len(mini) == 87 and mini == sorted(mini)
    assert len(shipped_classes("mini-kinetics")) == 200
    extra = ["Zzz not in mini", "Aaa not in mini"]
    full = list(np.random.default_rng(0).permutation(mini + extra))
    (tmp_path / "classes.txt").write_text("\n".join(full) + "\n")
    lines = [f"v{i} 1 10 {full.index(name)}" for i, name in enumerate([mini[5], extra[0], mini[0], extra[1]])]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    assert main(["data", "mini", str(tmp_path / "train.txt"), "--classes", str(tmp_path / "classes.txt"),
                 "--select", "mini-ssv2", "--out", str(tmp_path / "mini")]) == 0
    assert (tmp_path / "mini/mini_train.txt").read_text() == "v0 1 10 5\nv2 1 10 0\n"
    assert (tmp_path / "mini/mini_classes.txt").read_text().splitlines() == mini


def test_mini_random_half_is_seeded(tmp_path):
    from benchmark.data.prepare import select_classes

    names = [f"class{i:02d}" for i in range(10)]
    a, b = select_classes(names, "random-half", seed=1), select_classes(names, "random-half", seed=1)
    assert a == b and len(a) == 5 and a == sorted(a) and set(a) <= set(names)
    assert any(select_classes(names, "random-half", seed=s) != a for s in range(2, 6))
    (tmp_path / "c.txt").write_text("class01\nnope\n")
    with pytest.raises(DataError, match="'nope'"):
        select_classes(names, str(tmp_path / "c.txt"))


def test_index_tree_with_spaces(tmp_path, capsys):
    for cls, names in (("air drumming", ["b.mp4", "a.webm"]), ("abseiling", ["c.mkv"])):
        for n in names:
            write_video(_frames(4), tmp_path / "train" / cls / n)
    (tmp_path / "train/abseiling/notes.txt").write_text("not a video")
    assert main(["data", "index", str(tmp_path / "train"), "--out", str(tmp_path / "train.txt")]) == 0
    assert "separator" in capsys.readouterr().out
    assert (tmp_path / "train.txt").read_text() == (
        "abseiling/c.mkv;0\nair drumming/a.webm;1\nair drumming/b.mp4;1\n")
    assert (tmp_path / "classes.txt").read_text() == "abseiling\nair drumming\n"


def test_extract_frames_resumable_with_failures(tmp_path, capsys):
    videos = tmp_path / "videos"
    write_video(_frames(7, 24, 40), videos / "a/one.mp4")
    write_video(_frames(5, 24, 40), videos / "b/two.webm")
    (videos / "b/broken.mp4").write_bytes(b"not a video at all")
    (tmp_path / "list.txt").write_text("a/one.mp4 0\nb/two.webm 1\nb/broken.mp4 1\n")
    args = ["data", "extract", str(videos), str(tmp_path / "frames"), "--list", str(tmp_path / "list.txt"),
            "--short-side", "16", "--out-list", str(tmp_path / "frames.txt"), "--workers", "2"]
    assert main(args) == 1  # one failure
    out = capsys.readouterr()
    assert "broken.mp4" in out.err and "failed 1" in out.out
    assert (tmp_path / "frames.txt").read_text() == "a/one 1 7 0\nb/two 1 5 1\n"
    from benchmark.data.decode import FrameFolder

    assert FrameFolder(tmp_path / "frames/a/one", 1, 7, "{:05d}.jpg", "x").read([6]).shape == (1, 3, 16, 26)
    assert not (tmp_path / "frames/a/one/00008.jpg").exists()
    assert main(args) == 1
    assert "reused 2" in capsys.readouterr().out


def test_synth_command_writes_both_formats(tmp_path, capsys):
    out = tmp_path / "syn"
    assert main(["data", "synth", "temporal", "--out", str(out), "--train", "4", "--val", "2", "--frames", "6"]) == 0
    assert "4 train + 2 val clips" in capsys.readouterr().out
    assert len((out / "train.txt").read_text().splitlines()) == 4
    assert len((out / "val_videos.txt").read_text().splitlines()) == 2
    assert main(["data", "check", str(out / "val_videos.txt"), "--num-classes", "4"]) == 0
