"""Shared test material for grid/launch tests: the local SLURM cluster and a tiny synthetic grid.

``local_slurm`` uses a running SLURM, or starts one with ``slurm/start-local-slurm.sh`` (root and
apt-get or installed packages needed; two nodes, else one) and then stops exactly what it started,
once for all the test run's workers. When SLURM cannot be started, tests using it are skipped with
the reason; its value says how the cluster came about (a skip reason of the 2-node test names why two
nodes did not start).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import TINY

from benchmark.grid import experiment_from_dict

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def local_slurm(tmp_path_factory):
    """One cluster for every pytest-xdist worker of this test run: the first worker that needs it
    starts it (or finds one running), the others wait on a file lock and share it, and the last one
    done stops it if this run started it. The workers are meant to take the slurm group one after
    another (``--dist loadgroup``), but nothing here depends on that."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # this run's folder, above each worker's own
    lock, record = shared / "local-slurm.lock", shared / "local-slurm.json"
    with _locked(lock):
        state = json.loads(record.read_text()) if record.is_file() else _bring_up()
        state["users"] = state.get("users", 0) + (state["error"] is None)
        record.write_text(json.dumps(state))
    if state["error"] is not None:
        pytest.skip(state["error"])
    try:
        yield state["how"]
    finally:
        with _locked(lock):
            state = json.loads(record.read_text())
            state["users"] -= 1
            if state["users"] == 0:
                record.unlink()
                if state["ours"]:
                    subprocess.run(["bash", str(REPO / "slurm/stop-local-slurm.sh")], capture_output=True,
                                   timeout=120)
            else:
                record.write_text(json.dumps(state))


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _bring_up() -> dict:
    """A running SLURM as found or started: ``how`` it came about, whether it is ``ours`` to stop, or
    the ``error`` that skips the tests needing it."""
    from benchmark.launch import scheduler

    if scheduler.available():
        return {"how": "already running", "ours": False, "error": None}
    if os.geteuid() != 0:
        return {"how": None, "ours": False, "error": "SLURM is not running and starting it needs root"}
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        return {"how": None, "ours": False, "error": "SLURM is not installed and apt-get is not available"}
    how = "started (2 nodes)"
    start = _start_slurm({})
    if start.returncode != 0:  # two nodes would not start: one still serves the single-node tests
        how = f"started with 1 node (2 failed: {_last_line(start)})"
        start = _start_slurm({"STBENCH_SLURM_NODES": "1"})
    if start.returncode != 0 or not scheduler.available():
        return {"how": None, "ours": False,
                "error": f"could not start the local SLURM: {(start.stderr or start.stdout).strip()[-500:]}"}
    return {"how": how, "ours": True, "error": None}


def _start_slurm(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "slurm/start-local-slurm.sh")], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **env})


def _last_line(proc: subprocess.CompletedProcess) -> str:
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit code {proc.returncode}"


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A very small synthetic-temporal dataset (8 train / 4 val clips, 16 frames of 32x32)."""
    from benchmark.data.synthetic import generate

    root = tmp_path_factory.mktemp("data") / "synthetic-temporal"
    generate("temporal", root, num_train=8, num_val=4, size=32, frames_per_video=16, formats=("frames",))
    return root


def tiny_grid(data_root: Path, output: Path, *, modules=("TSN", "TAM", "TSM"), frames=(4, 8),
              overrides=(), name="tiny") -> dict:
    """A grid of tiny CPU runs: 3 modules x f4 -> f8 chains = 6 runs, 3 dependencies.

    The backbone is the test-only TinyResNet (tests/plugins/stbench_tiny.py; SLURM jobs and the local
    executor's processes inherit STBENCH_PLUGINS and PYTHONPATH from tests/conftest.py). One optimiser
    step per epoch keeps each run to a few seconds even on a loaded 2-core machine.
    """
    return {
        "name": name,
        "output": str(output),
        "datasets": [{"preset": "synthetic-temporal", "root": str(data_root)}],
        "axes": {"modules": list(modules), "backbones": [TINY], "frames": list(frames)},
        "run": {"pretrained": None, "device": "cpu", "workers": 0, "epochs": 2, "batch_size": 2,
                "max_steps_per_epoch": 1, "deterministic": True, "eval": {"video_level": False, "batch_size": 4}},
        "overrides": list(overrides),
    }


def load_grid(spec: dict, tmp_path: Path):
    return experiment_from_dict(spec, source=str(tmp_path / "tiny.yaml"))


def wait_for(predicate, timeout: float, what: str, poll: float = 0.5):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
