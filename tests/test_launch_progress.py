"""Grid progress (``stbench status --watch``, the bar of a waiting launch): the numbers by hand, and
the views as a person sees them, under a pseudo-terminal and without one."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from slurm_fixture import load_grid, synthetic_root, tiny_grid, wait_for  # noqa: F401 (fixture)

from benchmark.grid.spec import PlannedRun
from benchmark.launch import status
from benchmark.launch.observe import RunView
from benchmark.launch.progress import grid_progress


def view(tmp_path, run_id, state, epoch, epochs, times=(), model="TSN-ResNet18-f4", active=False):
    run_dir = tmp_path / run_id
    run_dir.mkdir()
    lines = [{"epoch": e + 1, "epoch_time_s": t} for e, t in enumerate(times)]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
    run = PlannedRun(run_id, {"epochs": epochs, "model": model}, [], run_dir, {})
    return RunView(run, state, None, epoch, None, None, None, None, active)


def test_progress_and_eta_by_hand(tmp_path):
    views = {v.run_id: v for v in (
        view(tmp_path, "a", "done", 4, 4, times=(10, 10, 10, 10)),
        view(tmp_path, "b", "running", 1, 4, times=(20,), model="TAM-ResNet18-f4", active=True),
        view(tmp_path, "c", "pending", 0, 4, model="TAM-ResNet18-f4", active=True),  # paced like b
        view(tmp_path, "d", "pending", 0, 2, model="I3D-ResNet18-f4", active=True),  # overall mean: 15
        view(tmp_path, "e", "failed", 1, 4, times=(99,)),  # ended: no more epochs counted
    )}
    p = grid_progress(views)
    assert (p.runs, p.epochs_done, p.epochs_total, p.active) == (5, 4 + 1 + 0 + 0 + 1, 18, 3)
    assert p.states == {"done": 1, "running": 1, "pending": 2, "failed": 1}
    # b: 3 left x 20 s; c: 4 x 20 s (b's model); d: 2 x mean(10, 20, 99); one run trains at a time.
    assert p.eta_s == pytest.approx(3 * 20 + 4 * 20 + 2 * (10 + 20 + 99) / 3)
    assert not p.finished and p.fraction == pytest.approx(6 / 18)


def test_a_grid_with_nothing_active_is_finished(tmp_path):
    p = grid_progress({"a": view(tmp_path, "a", "done", 2, 2, times=(1, 1))})
    assert p.finished and p.fraction == 1.0 and p.eta_s is None


def _experiment_file(tmp_path: Path, root: Path) -> Path:
    spec = tiny_grid(root, tmp_path / "out", modules=("TSN", "TAM"), frames=(4,))
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _read_pty(fd: int, proc: subprocess.Popen, timeout: float) -> bytes:
    out = b""
    end = time.time() + timeout
    while time.time() < end:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    return out


@pytest.mark.slow
def test_watch_on_a_terminal_and_without_one(tmp_path, synthetic_root):  # noqa: F811
    exp_file = _experiment_file(tmp_path, synthetic_root)
    env = {**os.environ, "STBENCH_TEST_THREADS": "1"}
    # --parallel 2: both runs at once, one core each (the watch shares the machine with them)
    launch = subprocess.Popen([sys.executable, "-m", "benchmark", "launch", str(exp_file), "--parallel", "2"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Watch once the launch has taken a run: before that nothing is active and a watch ends at once.
    exp = load_grid(yaml.safe_load(exp_file.read_text()), tmp_path)
    wait_for(lambda: any(v.active or v.state == "done" for v in status(exp).values()), 120, "the launch to start")
    main_fd, child_fd = pty.openpty()
    watch = subprocess.Popen([sys.executable, "-m", "benchmark", "status", str(exp_file), "--watch",
                              "--interval", "0.5"], stdin=child_fd, stdout=child_fd, stderr=child_fd, env=env)
    os.close(child_fd)
    screen = _read_pty(main_fd, watch, timeout=300).decode(errors="replace")
    os.close(main_fd)
    assert watch.wait(timeout=60) == 0
    assert launch.wait(timeout=300) == 0, launch.stderr.read().decode()[-2000:]
    frames = screen.split("\x1b[H\x1b[2J")
    assert len(frames) >= 2  # redrawn in place
    assert "[" + "#" * 30 + "] 100.0%" in frames[-1] and "ETA done" in frames[-1]
    assert "done 2" in frames[-1]
    # Without a terminal: plain lines, no escape codes, ending at 100 %. (A finished grid's watch
    # still waits two intervals for a next run: --interval 0.5, not the default 10 s.)
    plain = subprocess.run([sys.executable, "-m", "benchmark", "status", str(exp_file), "--watch",
                            "--interval", "0.5"], capture_output=True, text=True, env=env, timeout=120)
    assert plain.returncode == 0 and "\x1b" not in plain.stdout
    assert plain.stdout.strip().splitlines()[-1].startswith("tiny  [" + "#" * 30 + "] 100.0%")


def test_a_waiting_launch_prints_plain_progress_lines_without_a_terminal(tmp_path, synthetic_root, capsys):  # noqa: F811
    from benchmark.cli import main

    exp_file = _experiment_file(tmp_path, synthetic_root)
    assert main(["launch", str(exp_file), "--parallel", "2"]) == 0
    out = capsys.readouterr().out
    assert "[1/2]" in out and "[2/2]" in out and "\x1b" not in out
    assert load_grid(yaml.safe_load(exp_file.read_text()), tmp_path).name == "tiny"


@pytest.mark.slow
def test_wait_returns_when_another_processs_runs_end_and_says_which_failed(tmp_path, synthetic_root, capsys):  # noqa: F811
    """``launch && collect`` from a second shell: ``wait`` blocks while the first shell's launch
    trains, whoever owns the runs, and its exit status says whether every run is done."""
    from benchmark.cli import main

    broken = {"match": {"module": "TAM"}, "set": {"batch_size": 64}}  # more than the training set: fails in its job
    spec = tiny_grid(synthetic_root, tmp_path / "out", modules=("TSN", "TAM"), frames=(4,), overrides=[broken])
    exp_file = tmp_path / "tiny.yaml"
    exp_file.write_text(yaml.safe_dump(spec))
    env = {**os.environ, "STBENCH_TEST_THREADS": "1", "STBENCH_TINY_DELAY_S": "0.2"}
    launch = subprocess.Popen([sys.executable, "-m", "benchmark", "launch", str(exp_file), "--parallel", "2"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    exp = load_grid(spec, tmp_path)
    wait_for(lambda: any(v.active for v in status(exp).values()), 120, "the launch to start")
    assert main(["wait", str(exp_file), "--interval", "0.5"]) == 1
    out = capsys.readouterr().out
    states = {v.run_id: v.state for v in status(exp).values()}
    assert sorted(states.values()) == ["done", "failed"]  # nothing was still running when wait returned
    failed = next(r for r, s in states.items() if s == "failed")
    assert f"1 of 2 runs done; 1 failed ({failed})" in out.strip().splitlines()[-1]
    launch.wait(timeout=120)
    # only the run that can succeed: launch --wait returns 0 once it is done (here: at once)
    spec["overrides"], spec["axes"]["modules"] = [], ["TSN"]
    exp_file.write_text(yaml.safe_dump(spec))
    assert main(["launch", str(exp_file), "--wait"]) == 0
    assert capsys.readouterr().out.strip().endswith("tiny: all 1 runs done")
