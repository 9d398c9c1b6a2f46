"""Checkpoints that survive damage: verified writes keeping ``last.prev.pt``, resume from the newest
loadable one, stale temporaries cleaned, a kill inside a checkpoint write, and one-line errors for
unwritable files and offline ImageNet weights.

End-to-end cases train a tiny synthetic run (TSN on the test-only TinyResNet, two steps per epoch)
in-process with one thread, so an interrupted-and-resumed run must equal the uninterrupted reference
bit for bit.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from benchmark.cli import main as stbench_main
from benchmark.engine import atomic_io, run_layout, run_reader, train
from benchmark.engine.atomic_io import RunDirWriteError, write_bytes_atomic
from benchmark.engine.checkpoint import (
    checkpoint_path,
    load_checkpoint,
    resume_checkpoint,
    save_checkpoint,
)
from benchmark.engine.checkpoint_policy import CheckpointPolicy
from benchmark.engine.metrics_jsonl import read_metrics
from benchmark.errors import ModelError, StbenchError

TIMING = {"epoch_time_s", "clips_per_s", "time"}


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    from benchmark.data.synthetic import generate

    out = tmp_path_factory.mktemp("synthetic")
    generate("temporal", out, num_train=8, num_val=4, size=32, frames_per_video=8, seed=0, formats=("frames",))
    return out


def tiny(data_dir: Path, **overrides) -> dict:
    cfg = {"model": "TSN-TinyResNet-f4", "dataset": {"preset": "synthetic-temporal", "root": str(data_dir)},
           "pretrained": None, "device": "cpu", "workers": 0, "epochs": 3, "batch_size": 2,
           "max_steps_per_epoch": 2, "deterministic": True, "log_every": 1,
           "eval": {"video_level": False, "batch_size": 4}}
    cfg.update(overrides)
    return cfg


@pytest.fixture(scope="module")
def reference(data_dir, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("reference") / "run"
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(tiny(data_dir), run)
    finally:
        torch.set_num_threads(previous)
    return run


def assert_same(a: Path, b: Path) -> None:
    strip = lambda lines: [{k: v for k, v in m.items() if k not in TIMING} for m in lines]  # noqa: E731
    assert strip(read_metrics(a)) == strip(read_metrics(b))
    wa, wb = (torch.load(d / "checkpoints" / "last.pt", weights_only=True)["model"] for d in (a, b))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    ra, rb = (json.loads((d / "result.json").read_text()) for d in (a, b))
    assert (ra["top1"], ra["top5"], ra["best_epoch"]) == (rb["top1"], rb["top5"], rb["best_epoch"])


class Killed(BaseException):
    """Stands for a kill right after a moment of the run (the files are what a SIGKILL leaves)."""


def train_until_epoch(cfg: dict, run: Path, epochs: int, monkeypatch) -> None:
    """Train, stopping right after epoch ``epochs``'s checkpoints are written."""
    original = CheckpointPolicy.end_epoch

    def end_epoch(self, state, line, improved):
        original(self, state, line, improved)
        if state.epoch == epochs:
            raise Killed()

    with monkeypatch.context() as m:
        m.setattr(CheckpointPolicy, "end_epoch", end_epoch)
        with pytest.raises(Killed):
            train(cfg, run)
    run_layout.write_state(run, "running", epoch=epochs)  # what the killed process left


# --------------------------------------------------------------------------- unit level
def test_a_verified_write_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint(path, {"model": {"w": torch.zeros(2)}, "state": {"epoch": 1}})
    save_checkpoint(path, {"model": {"w": torch.ones(2)}, "state": {"epoch": 2}})
    assert load_checkpoint(path)["state"]["epoch"] == 2
    assert load_checkpoint(path.with_name("last.prev.pt"))["state"]["epoch"] == 1
    assert run_layout.stale_temporaries(tmp_path) == []
    best = path.with_name("best.pt")  # best.pt keeps no previous version
    save_checkpoint(best, {"model": {"w": torch.ones(2)}})
    save_checkpoint(best, {"model": {"w": torch.ones(2)}})
    assert sorted(p.name for p in path.parent.iterdir()) == ["best.pt", "last.prev.pt", "last.pt"]


def test_a_failed_write_names_the_file_and_leaves_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    path.write_text('{"old": true}')

    def full(fd, *args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic_io.os, "fsync", full)
    with pytest.raises(RunDirWriteError) as info:
        write_bytes_atomic(path, b'{"new": true}')
    assert str(info.value) == f"cannot write {path}: No space left on device"
    assert isinstance(info.value, StbenchError) and isinstance(info.value, OSError)
    assert path.read_text() == '{"old": true}' and run_layout.stale_temporaries(tmp_path) == []


def test_resume_takes_the_newest_loadable_checkpoint(tmp_path, caplog):
    run = tmp_path / "run"
    assert resume_checkpoint(run) is None  # no checkpoint: a fresh start, nothing to say
    good = {"model": {}, "optimizer": {}, "state": {"epoch": 1}, "rng": [{}]}
    save_checkpoint(checkpoint_path(run), good)
    save_checkpoint(checkpoint_path(run), {**good, "state": {"epoch": 2}})
    assert resume_checkpoint(run) == checkpoint_path(run)
    checkpoint_path(run).write_bytes(checkpoint_path(run).read_bytes()[:100])  # torn
    with caplog.at_level(logging.WARNING, logger="benchmark.engine"):
        assert resume_checkpoint(run) == checkpoint_path(run, "previous")
    assert "resuming from last.prev.pt: checkpoints/last.pt: truncated checkpoint" in caplog.text
    checkpoint_path(run, "previous").write_bytes(b"garbage")
    with pytest.raises(ModelError) as info:
        resume_checkpoint(run)
    assert str(info.value) == (
        "cannot resume: checkpoints/last.pt: truncated checkpoint (damaged); checkpoints/last.prev.pt: not a "
        "checkpoint (damaged); 'stbench repair RUN_DIR' sets them aside (the run then starts again), or use "
        "--resume never")
    zipped = checkpoint_path(run, "previous")  # a zip that is no checkpoint: torch's reason, kept short
    torch.save({"model": {}}, zipped)
    with pytest.raises(ModelError, match=r"checkpoints/last.prev.pt: not a resumable checkpoint"):
        resume_checkpoint(run)


# --------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_a_corrupt_last_checkpoint_resumes_from_the_previous_one_exactly(reference, data_dir, tmp_path,
                                                                         monkeypatch):
    run = tmp_path / "run"
    train_until_epoch(tiny(data_dir), run, 2, monkeypatch)
    assert len(read_metrics(run)) == 2
    checkpoint_path(run).write_bytes(checkpoint_path(run).read_bytes()[:2000])  # torn by a bad disk
    (run / "checkpoints" / ".last.pt.stale.tmp").write_bytes(b"left by a kill")
    train(tiny(data_dir), run)
    log = (run / "log.txt").read_text()
    assert "resuming from last.prev.pt: checkpoints/last.pt: truncated checkpoint (damaged)" in log
    assert "resumed from the checkpoint at epoch 2/3" in log
    assert run_layout.stale_temporaries(run) == []
    assert_same(run, reference)


def test_a_refused_resume_keeps_the_epoch_reached(data_dir, tmp_path, monkeypatch):
    """Both resume points unusable: the run fails saying so, and state.json still says how far it got."""
    run = tmp_path / "run"
    train_until_epoch(tiny(data_dir), run, 2, monkeypatch)
    checkpoint_path(run).write_bytes(b"garbage")
    checkpoint_path(run, "previous").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="cannot resume"):
        train(tiny(data_dir), run)
    state = json.loads((run / "state.json").read_text())
    assert state["state"] == "failed" and state["epoch"] == 2 and "cannot resume" in state["reason"]


KILL_IN_WRITE = """
import os, sys, torch, yaml
torch.set_num_threads(1)
from benchmark.engine import atomic_io, train
original, moment = atomic_io._keep, sys.argv[3]
def keep(path, previous):  # called while a new last.pt waits as a temporary
    if moment == "after-previous":
        original(path, previous)
    os._exit(137)  # no cleanup runs, as with SIGKILL
atomic_io._keep = keep
train(yaml.safe_load(open(sys.argv[1])), sys.argv[2])
"""


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["before-previous", "after-previous"])
def test_a_kill_inside_a_checkpoint_write_resumes_exactly(reference, data_dir, tmp_path, moment):
    config, run = tmp_path / "run.yaml", tmp_path / "run"
    config.write_text(yaml.safe_dump(tiny(data_dir)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", KILL_IN_WRITE, str(config), str(run), moment], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 137, proc.stderr[-2000:]
    assert [p.name.startswith(".last.pt.") for p in run_layout.stale_temporaries(run)] == [True]
    assert load_checkpoint(checkpoint_path(run))["state"]["epoch"] == 1  # the old one, intact
    assert stbench_main(["train", str(config), "--run-dir", str(run)]) == 0
    assert run_layout.stale_temporaries(run) == []
    assert_same(run, reference)


@pytest.mark.slow
def test_a_finished_run_with_a_damaged_result_is_re_evaluated_not_retrained(reference, tmp_path, data_dir):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(reference, run)
    (run / "result.json").write_bytes(b'{"schema_version": 1, "top1"')
    assert run_reader.read_run(run).state == "damaged"
    train(tiny(data_dir), run)
    assert "resumed from a finished training (3/3 epochs)" in (run / "log.txt").read_text()
    assert run_reader.read_run(run).state == "done"
    assert_same(run, reference)


# --------------------------------------------------------------------------- one-line errors
def _cli_error(capsys, *argv) -> str:
    assert stbench_main(list(argv)) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_an_unwritable_run_directory_is_one_line_naming_it(data_dir, tmp_path, capsys, monkeypatch):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(tiny(data_dir, epochs=1)))
    run = tmp_path / "ro" / "run"
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):  # root ignores chmod: the folder refuses as a read-only one would
        if str(self).startswith(str(tmp_path / "ro")):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    line = _cli_error(capsys, "train", str(config), "--run-dir", str(run))
    # the first writer to meet the folder says so (the claim, else the run directory's own writers)
    assert line.startswith("stbench train: error: cannot ") and f" {run}" in line
    assert line.endswith(": Permission denied")


def test_a_full_disk_is_one_line_naming_the_file(data_dir, tmp_path, capsys, monkeypatch):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(tiny(data_dir, epochs=1)))
    run = tmp_path / "run"
    real = atomic_io.os.fsync

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(run / "checkpoints" / ".last.pt.")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(atomic_io.os, "fsync", fsync)
    line = _cli_error(capsys, "train", str(config), "--run-dir", str(run))
    assert line == f"stbench train: error: cannot write {run / 'checkpoints' / 'last.pt'}: No space left on device"
    state = run_reader.run_state(run)
    assert state["state"] == "failed" and "last.pt: No space left on device" in state["reason"]


def _imagenet_run(data_dir, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty cache: the weights must be fetched
    config = tmp_path / "run.yaml"
    # a torchvision backbone: the test network has no ImageNet weights to download
    config.write_text(yaml.safe_dump(tiny(data_dir, epochs=1, pretrained="imagenet", model="TSN-ResNet18-f4")))
    return config


def test_offline_imagenet_weights_are_one_line_saying_what_to_do(data_dir, tmp_path, capsys, monkeypatch):
    import urllib.request
    from urllib.error import URLError

    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    config = _imagenet_run(data_dir, tmp_path, monkeypatch)
    line = _cli_error(capsys, "train", str(config), "--run-dir", str(tmp_path / "run"))
    assert "could not download https://download.pytorch.org/models/resnet18-" in line
    assert "ImageNet weights ResNet18_Weights.IMAGENET1K_V1" in line
    assert "URLError" in line and "Temporary failure in name resolution" in line
    assert "--set pretrained=/path/to/resnet18-" in line and "--set pretrained=null" in line


def test_a_silent_network_times_out_instead_of_hanging(data_dir, tmp_path, capsys, monkeypatch):
    """A server that accepts the connection and never answers (packets dropped): the read times out."""
    import socket

    from benchmark.models import weights

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # connections complete in the backlog; nothing is ever sent
    monkeypatch.setattr(weights, "DOWNLOAD_TIMEOUT_S", 0.5)
    monkeypatch.setenv("STBENCH_WEIGHTS_MIRROR", f"http://127.0.0.1:{silent.getsockname()[1]}")
    config = _imagenet_run(data_dir, tmp_path, monkeypatch)
    try:
        line = _cli_error(capsys, "train", str(config), "--run-dir", str(tmp_path / "run"))
    finally:
        silent.close()
    assert "could not download" in line and "timed out" in line and "--set pretrained=null" in line
    assert not list((tmp_path / "torch").rglob("*.pth"))  # nothing half-written under the final name


def test_a_non_utf8_run_config_is_one_line(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_bytes(b"model: TSN-ResNet18-f4\nnote: caf\xe9\n")
    line = _cli_error(capsys, "train", str(config))
    assert line == f"stbench train: error: {config}:2: not UTF-8 text (byte 32); save the file as UTF-8"
