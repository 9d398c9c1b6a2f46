"""Every file of a run directory damaged in every way: status, collect, train --resume auto, launch
and repair never show a traceback, name the file, and lose no finished work.

Two tiny runs (TSN on the test-only TinyResNet, one step per epoch) are trained once per module: a
finished one (through the local executor, as a user launches it) and an interrupted one (stopped
right after its first epoch's checkpoint, with the files a SIGKILL leaves). Each case is built from
their files: it copies one of them and damages one file; only the cases whose subject is what a
resume or a relaunch does with the damage train (the rest read the files).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from slurm_fixture import load_grid, synthetic_root, tiny_grid  # noqa: F401 (fixture)

from benchmark.analysis.collect import collect, done_runs
from benchmark.cli import main as stbench_main
from benchmark.engine import atomic_io, metrics_jsonl, run_layout, run_reader, train
from benchmark.engine.checkpoint_policy import CheckpointPolicy
from benchmark.engine.repair import repair
from benchmark.launch import launch, observe

pytestmark = pytest.mark.slow  # the two template runs take a few seconds; a reading case a fraction of one

FILES = ("config.yaml", "state.json", "metrics.jsonl", "result.json", "predictions.csv", "launch.json",
         "checkpoints/last.pt", "checkpoints/best.pt")


def _truncate(path: Path) -> bytes:
    data = path.read_bytes() if path.is_file() else b'{"state": "done", "top1": 50'
    return data[: max(1, len(data) // 2)]


DAMAGE = {
    "list": lambda p: b"[1, 2, 3]",
    "number": lambda p: b"42",
    "string": lambda p: b'"done"',
    "non-utf8": lambda p: b'{"state": "done", "note": "\xff\xfe\x80"}\n',
    "truncated": _truncate,
    "garbage": lambda p: b"\x00\x01PK\x07 not what this file should hold {{{",
    "empty": lambda p: b"",
    "directory": None,
}
CASES = [(f, k) for f in FILES for k in DAMAGE]


def damage(run_dir: Path, name: str, kind: str) -> None:
    path = run_dir / name
    data = None if DAMAGE[kind] is None else DAMAGE[kind](path)
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    if data is None:
        path.mkdir(parents=True)
        (path / "stray").write_text("x")
    else:
        path.write_bytes(data)


class Killed(BaseException):
    pass


@pytest.fixture(scope="module")
def templates(tmp_path_factory, synthetic_root):  # noqa: F811
    """``{"finished": out, "interrupted": out, "top1": the finished run's top-1}``."""
    base = tmp_path_factory.mktemp("templates")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        finished = base / "finished"
        exp = load_grid(tiny_grid(synthetic_root, finished, modules=("TSN",), frames=(4,)), base)
        report = launch(exp, executor="local")
        assert report.submitted and not report.failed, report
        (run,) = exp.runs()
        top1 = json.loads((run.run_dir / "result.json").read_text())["top1"]
        interrupted = base / "interrupted"
        exp2 = load_grid(tiny_grid(synthetic_root, interrupted, modules=("TSN",), frames=(4,)), base)
        (run2,) = exp2.runs()
        original = CheckpointPolicy.end_epoch

        def end_epoch(self, state, line, improved):
            original(self, state, line, improved)
            raise Killed()

        CheckpointPolicy.end_epoch = end_epoch
        try:
            with pytest.raises(Killed):
                train(run2.config, run2.run_dir)
        finally:
            CheckpointPolicy.end_epoch = original
        run_layout.write_state(run2.run_dir, "running", epoch=1)  # what a SIGKILL leaves
        (run2.run_dir / "claim.json").unlink(missing_ok=True)
        dead = {"job_id": "999999999", "executor": "local", "folder": str(base), "host": socket.gethostname()}
        atomic_io.write_json_atomic(run2.run_dir / "launch.json", {"submissions": [dead]})
        return {"finished": finished, "interrupted": interrupted, "top1": top1}
    finally:
        torch.set_num_threads(previous)


def _link_checkpoints(src: str, dst: str) -> None:
    """Checkpoints are only ever replaced whole (atomic rename), never written in place: sharing
    them with the template is safe and saves copying them for each case. Everything else is copied."""
    if src.endswith(".pt"):
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)


class Case:
    def __init__(self, templates, which: str, tmp_path: Path, synthetic_root: Path):  # noqa: F811
        self.out = tmp_path / "out"
        shutil.copytree(templates[which], self.out, copy_function=_link_checkpoints)
        self.spec = tiny_grid(synthetic_root, self.out, modules=("TSN",), frames=(4,))
        self.yaml = tmp_path / "tiny.yaml"
        self.yaml.write_text(yaml.safe_dump(self.spec))
        self.exp = load_grid(self.spec, tmp_path)
        (self.run,) = self.exp.runs()
        self.dir = self.run.run_dir
        self.top1 = templates["top1"]
        self.best_before = (self.dir / "checkpoints" / "best.pt").read_bytes()
        self.log_before = (self.dir / "log.txt").read_text()

    def cli(self, capsys, *argv) -> tuple[int, str, str]:
        rc = stbench_main(list(argv))
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err, out + err
        return rc, out, err


def _named(text: str | None, name: str) -> bool:
    return text is not None and Path(name).name in text


@pytest.mark.parametrize("which", ["finished", "interrupted"])
@pytest.mark.parametrize(("name", "kind"), CASES)
def test_status_and_collect_name_the_damaged_file(templates, synthetic_root, tmp_path, capsys,  # noqa: F811
                                                  which, name, kind):
    case = Case(templates, which, tmp_path, synthetic_root)
    damage(case.dir, name, kind)
    files = run_reader.read_run(case.dir)
    view = observe(case.exp)[case.run.run_id]
    rc, out, _ = case.cli(capsys, "status", str(case.yaml), "--format", "json")
    assert rc == 0
    (row,) = json.loads(out)
    assert row["state"] == view.state
    rc, out, _ = case.cli(capsys, "collect", str(case.out))
    assert rc == 0
    table = collect(case.out)
    assert len(table) == 1
    got = table.iloc[0]
    if which == "finished" and name == "result.json":
        # an unusable result is never done: damaged, with the file named, and out of every table
        assert files.state == view.state == row["state"] == got["state"] == "damaged"
        assert done_runs(table).empty and pd.isna(got["top1"])
    elif which == "finished":
        assert got["state"] == view.state == "done" and got["top1"] == case.top1
    elif name == "launch.json":  # the job record is lost: the files' own state, resubmitted by launch
        assert view.state == "running" and not view.active
    else:
        assert view.state == "interrupted" and got["state"] in ("running", "pending")
    assert _named(files.reason, name), files.reason
    assert _named(got["reason"], name) and _named(row["reason"], name), (got["reason"], row["reason"])


# A finished run returns at once (or re-evaluates); an interrupted one trains an epoch: fewer kinds.
TRAIN_CASES = [("finished", f, k) for f in FILES for k in ("list", "non-utf8", "truncated", "directory")] + [
    ("interrupted", f, k) for f in FILES for k in ("list", "truncated")]


@pytest.mark.parametrize(("which", "name", "kind"), TRAIN_CASES)
def test_train_resume_auto_never_loses_finished_work(templates, synthetic_root, tmp_path, capsys,  # noqa: F811
                                                    which, name, kind):
    case = Case(templates, which, tmp_path, synthetic_root)
    damage(case.dir, name, kind)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(case.run.config))
    rc, _, err = case.cli(capsys, "train", str(config), "--run-dir", str(case.dir))
    if rc == 0:
        result = json.loads((case.dir / "result.json").read_text())
        assert result["top1"] == case.top1  # the same run, resumed or re-evaluated, not a new one
        assert run_reader.read_run(case.dir).state == "done"
    else:
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and _named(lines[0], name), err
    # Every case that is not a folder in a file's place, nor the only resume point, must succeed.
    must = kind != "directory" and not (which == "interrupted" and name in ("checkpoints/last.pt",
                                                                             "checkpoints/best.pt"))
    assert rc == 0 or not must, err
    if name != "checkpoints/best.pt" and which == "finished":
        assert (case.dir / "checkpoints" / "best.pt").read_bytes() == case.best_before


# A launch acts on the reader's verdict (damaged: resubmitted) and its job re-evaluates with
# train --resume auto: result.json's other kinds ("list", "non-utf8") are that verdict in
# test_status_and_collect_name_the_damaged_file[...-finished] and that re-evaluation in
# test_train_resume_auto_never_loses_finished_work[finished-result.json-...]; each launch case
# starts a job process (seconds), so the launch cases take one torn and one empty result.
LAUNCH_CASES = [("finished", "result.json", k) for k in ("truncated", "empty")] + [
    ("finished", "state.json", "list"), ("interrupted", "config.yaml", "non-utf8"),
    ("interrupted", "state.json", "garbage"), ("interrupted", "metrics.jsonl", "truncated"),
    ("interrupted", "launch.json", "list"), ("interrupted", "checkpoints/last.pt", "truncated"),
]


@pytest.mark.parametrize(("which", "name", "kind"), LAUNCH_CASES)
def test_launch_relaunches_damaged_runs_without_a_traceback(templates, synthetic_root, tmp_path, capsys,  # noqa: F811
                                                           which, name, kind):
    case = Case(templates, which, tmp_path, synthetic_root)
    damage(case.dir, name, kind)
    rc, out, err = case.cli(capsys, "launch", str(case.yaml))
    state = run_reader.read_run(case.dir)
    if which == "interrupted" and name == "checkpoints/last.pt":
        # the only resume point is damaged: failed, saying so in one line; nothing else is touched
        assert rc == 1 and state.state == "failed" and "last.pt" in state.reason
        assert "cannot resume: checkpoints/last.pt: truncated checkpoint" in out  # the file named, not cut off
        assert (case.dir / "checkpoints" / "best.pt").read_bytes() == case.best_before
        assert len(metrics_jsonl.read_metrics(case.dir)) == 1
        return
    assert rc == 0, out + err
    assert state.state == "done" and state.result["top1"] == case.top1
    if name != "metrics.jsonl":  # (a damaged metrics.jsonl lost its lines before the launch)
        assert [m["epoch"] for m in metrics_jsonl.read_metrics(case.dir)] == [1, 2]  # each epoch trained once
    log = (case.dir / "log.txt").read_text()
    if which == "finished" and name == "result.json":  # not retrained: evaluated again from the checkpoint
        assert log.startswith(case.log_before) and "resumed from a finished training" in log
    elif which == "finished":  # still done: nothing ran
        assert log == case.log_before
    again = launch(case.exp, executor="local")
    assert again.submitted == [] and again.skipped_done == [case.run.run_id]


@pytest.mark.parametrize(("name", "kind"), [("result.json", "truncated"), ("metrics.jsonl", "non-utf8"),
                                            ("checkpoints/last.pt", "garbage"), ("state.json", "list")])
def test_repair_fixes_what_it_can_and_deletes_nothing(templates, synthetic_root, tmp_path, capsys,  # noqa: F811
                                                      name, kind):
    case = Case(templates, "finished", tmp_path, synthetic_root)
    damage(case.dir, name, kind)
    (case.dir / "checkpoints" / ".last.pt.abc.tmp").write_bytes(b"left by a kill")
    before = {p.relative_to(case.dir) for p in case.dir.rglob("*")}
    rc, out, _ = case.cli(capsys, "repair", str(case.dir), "--dry-run")
    assert rc == 0 and f"{name}: " in out and "would fix" in out and "checkpoints/.last.pt.abc.tmp" in out
    assert {p.relative_to(case.dir) for p in case.dir.rglob("*")} == before  # a dry run changes nothing
    rc, out, _ = case.cli(capsys, "repair", str(case.dir))
    assert rc == 0 and "fixed" in out
    after = {p.relative_to(case.dir) for p in case.dir.rglob("*")}
    lost = before - after - {Path("checkpoints/.last.pt.abc.tmp")}
    assert all((case.dir / f"{p}.damaged").exists() for p in lost), lost  # set aside, never deleted
    assert not repair(case.dir) or all(not f.fixed for f in repair(case.dir))  # nothing left to fix
    files = run_reader.read_run(case.dir)
    if name == "result.json":
        assert files.state == "pending" and "re-evaluates" in files.reason
    else:
        assert files.state == "done" and files.result["top1"] == case.top1
    rc, _, err = case.cli(capsys, "launch", str(case.yaml)) if name == "result.json" else (0, "", "")
    assert rc == 0, err
    assert run_reader.read_run(case.dir).result["top1"] == case.top1
