"""Data and protocol identity in every result (issue 22, items 1-2): a split's fingerprint comes from
its list, depends neither on the dataset's folder nor on the list's order, and changes with any
video or label; collect shows the fingerprints and counts."""

from __future__ import annotations

import hashlib
import json
import random
import shutil

import pytest
from conftest import TINY

from benchmark.data.dataset_config import resolve_data_config
from benchmark.data.synthetic import generate
from benchmark.engine.identity import split_identity


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn")
    generate("temporal", root, num_train=4, num_val=6, size=32, frames_per_video=8, seed=0, formats=("frames",))
    return root


def data(root):
    return resolve_data_config({"preset": "synthetic-temporal", "root": str(root)})


def by_hand(root, split: str) -> str:
    """The fingerprint from its definition: sorted 'id<TAB>label' lines, SHA-256, 16 hex digits."""
    lines = []
    for line in (root / f"{split}.txt").read_text().splitlines():
        fields = line.split()
        lines.append(f"{fields[0]}\t{fields[-1]}")
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()[:16]


def test_a_fingerprint_ignores_the_folder_and_the_order_and_sees_every_video_and_label(synthetic, tmp_path):
    val = split_identity(data(synthetic), "val")
    assert val["videos"] == 6 and val["malformed"] == 0 and val["fingerprint"] == by_hand(synthetic, "val")
    moved = tmp_path / "elsewhere"
    shutil.copytree(synthetic, moved)
    lines = (moved / "val.txt").read_text().splitlines()
    random.Random(1).shuffle(lines)
    (moved / "val.txt").write_text("\n".join(lines) + "\n")
    assert split_identity(data(moved), "val") == val  # another folder, another order: the same videos
    (moved / "val.txt").write_text("\n".join(lines[1:]) + "\n")
    fewer = split_identity(data(moved), "val")
    assert fewer["videos"] == 5 and fewer["fingerprint"] != val["fingerprint"]
    relabelled = lines[:-1] + [lines[-1].rsplit(" ", 1)[0] + " " + str((int(lines[-1].split()[-1]) + 1) % 4)]
    (moved / "val.txt").write_text("\n".join(relabelled) + "\n")
    assert split_identity(data(moved), "val")["fingerprint"] != val["fingerprint"]
    (moved / "val.txt").write_text("\n".join(lines + ["broken-line-without-label"]) + "\n")
    assert split_identity(data(moved), "val")["malformed"] == 1


def test_every_result_records_its_data_and_protocol_and_collect_shows_them(synthetic, tmp_path):
    from benchmark.analysis.collect import collect
    from benchmark.engine import train

    config = {"model": f"TSN-{TINY}-f4", "dataset": {"preset": "synthetic-temporal", "root": str(synthetic)},
              "pretrained": None, "epochs": 1, "batch_size": 2, "device": "cpu", "workers": 0,
              "eval": {"clips": 2, "crops": 1}}
    train(config, tmp_path / "runs" / "a")
    result = json.loads((tmp_path / "runs" / "a" / "result.json").read_text())
    assert result["data"]["train"]["videos"] == 4 and result["data"]["val"]["fingerprint"] == by_hand(synthetic, "val")
    assert result["data"]["num_classes"] == 4
    protocol = result["protocol"]
    assert (protocol["frames"], protocol["test_views"], protocol["pretraining"], protocol["epochs"]) == (4, "2x1", "scratch", 1)
    train({**config, "eval": {"clips": 1, "crops": 1}}, tmp_path / "runs" / "b")
    table = collect(tmp_path / "runs").set_index("run_dir")
    a, b = table.loc[str(tmp_path / "runs" / "a")], table.loc[str(tmp_path / "runs" / "b")]
    assert (a["val_videos"], a["train_videos"]) == (6, 4) and a["val_fingerprint"] == b["val_fingerprint"]
    assert a["protocol_fingerprint"] != b["protocol_fingerprint"]  # 2 clips against 1: another protocol


def test_a_mini_datasets_class_list_is_checked_against_the_papers(tmp_path):
    """stbench data mini writes mini_classes.txt (sorted, labels in that order): the shipped list gives
    the paper's fingerprint; one class less does not, and the report names such a run."""
    from benchmark.analysis.paper_data import paper_class_fingerprints
    from benchmark.engine.identity import class_names, fingerprint
    from benchmark.package_data import resource_dir

    shipped = (resource_dir("classes") / "mini_ssv2_classes.txt").read_text().splitlines()
    (tmp_path / "mini_classes.txt").write_text("\n".join(shipped) + "\n")
    cfg = resolve_data_config({"preset": "mini-ssv2", "root": str(tmp_path)})
    names = class_names(cfg)
    paper_fp, count = paper_class_fingerprints()["mini-ssv2"]
    assert count == 87 and fingerprint([f"{i}\t{n}" for i, n in enumerate(names)]) == paper_fp
    (tmp_path / "mini_classes.txt").write_text("\n".join(shipped[1:]) + "\n")
    assert fingerprint([f"{i}\t{n}" for i, n in enumerate(class_names(cfg))]) != paper_fp


def test_the_report_names_a_run_whose_class_list_is_not_the_papers(tmp_path):
    from test_analysis_fixtures import make_run

    from benchmark.analysis.paper_data import paper_class_fingerprints
    from benchmark.cli import main

    for model, fp in (("TSN-ResNet18-f8", paper_class_fingerprints()["mini-ssv2"][0]), ("TAM-ResNet18-f8", "0123")):
        run = make_run(tmp_path, model, "mini-ssv2", top1=50.0)
        record = json.loads((run / "result.json").read_text())
        record["data"]["classes_fingerprint"] = fp
        (run / "result.json").write_text(json.dumps(record))
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "rep")]) == 0
    text = (tmp_path / "rep" / "report.md").read_text()
    section = text[text.index("## Comparability of the runs"):].split("\n## ")[0]
    assert "| TAM-ResNet18-f8 | class list | not the paper's 87 mini-ssv2 classes |" in section
    assert "TSN-ResNet18-f8" not in section and "does not print its split sizes" in section
