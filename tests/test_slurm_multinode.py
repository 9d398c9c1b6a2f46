"""Multi-node DDP on the real local SLURM: a ``nodes: 2`` run (one CPU task on each of the two
slurmd of slurm/start-local-slurm.sh, gloo) launched with ``stbench launch --executor slurm``.

What it shows: the two tasks meet through the environment SLURM gives them (MASTER_ADDR = the
first node of SLURM_JOB_NODELIST, RANK/WORLD_SIZE from SLURM_PROCID/NTASKS), the 5 validation
clips (not divisible by 2 ranks) are each evaluated exactly once, and an ``scontrol requeue``
after the first epoch resumes both processes, on both nodes, from the checkpoint.
"""

from __future__ import annotations

import csv
import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from slurm_fixture import load_grid, local_slurm, tiny_grid, wait_for  # noqa: F401

from benchmark.cli import main
from benchmark.engine.metrics_jsonl import read_metrics
from benchmark.launch import observe
from benchmark.launch import scheduler as sched
from benchmark.launch.record import last_submission

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

EPOCHS, NUM_VAL = 8, 5


@pytest.fixture(scope="module")
def two_nodes(local_slurm):  # noqa: F811
    nodes = subprocess.run(["sinfo", "-h", "-N", "-p", "debug", "-o", "%N"], capture_output=True, text=True,
                           timeout=30).stdout.split()
    if len(set(nodes)) < 2:
        pytest.skip(f"the local SLURM has {len(set(nodes))} node(s) in partition debug, the test needs 2 "
                    f"(slurm/start-local-slurm.sh starts 2 unless STBENCH_SLURM_NODES=1): {local_slurm}")
    return sorted(set(nodes))


@pytest.fixture(scope="module")
def odd_val_root(tmp_path_factory) -> Path:
    """5 validation clips: 2 ranks cannot split them evenly, so a padded shard would repeat one."""
    from benchmark.data.synthetic import generate

    root = tmp_path_factory.mktemp("data2") / "synthetic-temporal"
    generate("temporal", root, num_train=8, num_val=NUM_VAL, size=32, frames_per_video=16, formats=("frames",))
    return root


def _job_state(job_id: str) -> str | None:
    info = sched.query([job_id]).get(job_id)
    return info.state if info else None


def _interrupt_after_first_epoch(run, job_id: str) -> None:
    """``scontrol requeue`` once the first epoch is recorded, then release the held requeued job."""
    wait_for(lambda: read_metrics(run.run_dir), 180, "the first epoch")
    assert _job_state(job_id) == "RUNNING", "the run finished before it could be requeued"
    subprocess.run(["scontrol", "requeue", job_id], check=True, capture_output=True, timeout=30)
    time.sleep(3)  # releasing in the same second as the requeue revokes the job's credential
    wait_for(lambda: _job_state(job_id) == "PENDING", 60, "the requeued job to be pending")
    subprocess.run(["scontrol", "update", f"jobid={job_id}", "StartTime=now"], check=True, capture_output=True,
                   timeout=30)


def test_two_node_ddp_evaluates_each_sample_once_and_resumes_on_both_nodes(two_nodes, odd_val_root, tmp_path,
                                                                          capsys, monkeypatch):
    # each forward pass of the jobs (they inherit this environment) sleeps, so the run outlasts the requeue
    monkeypatch.setenv("STBENCH_TINY_DELAY_S", "0.15")
    spec = tiny_grid(odd_val_root, tmp_path / "out", modules=("TSN",), frames=(4,))
    spec["run"].update(epochs=EPOCHS, batch_size=2)  # one clip per rank per step
    yaml_path = tmp_path / "two-node.yaml"
    yaml_path.write_text(yaml.safe_dump(spec))
    exp = load_grid(spec, tmp_path)
    (run,) = exp.runs()

    assert main(["launch", str(yaml_path), "--executor", "slurm", "--profile", "local-2node"]) == 0
    job_id = observe(exp)[run.run_id].job_id
    assert job_id
    _interrupt_after_first_epoch(run, job_id)
    views = wait_for(lambda: (v := observe(exp)) and not v[run.run_id].active and v, 300, "the run to end")
    assert views[run.run_id].state == "done", views[run.run_id].reason

    # One job, two tasks on the two nodes (each its own slurmd), world size 2.
    nodes = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "NNodes,NodeList", "-j", job_id], capture_output=True,
                           text=True, timeout=30).stdout.split()
    assert nodes[-1] == "2|stbench-n[1-2]", nodes
    result = json.loads((run.run_dir / "result.json").read_text())
    assert result["environment"]["world_size"] == 2 and 0 <= result["top1"] <= 100

    # Every validation clip predicted exactly once (no padding duplicate, none lost).
    with open(run.run_dir / "predictions.csv", newline="") as f:
        indices = [int(row["index"]) for row in csv.DictReader(f)]
    assert sorted(indices) == list(range(NUM_VAL))

    # Rank 0's log: pre-empted by the requeue's SIGTERM, resumed; every epoch recorded once.
    log_text = (run.run_dir / "log.txt").read_text()
    assert "preempted by signal SIGTERM" in log_text and "resumed from" in log_text
    assert [m["epoch"] for m in read_metrics(run.run_dir)] == list(range(1, EPOCHS + 1))

    # Each task's own log: joined the group at the first node (from SLURM_JOB_NODELIST) and resumed.
    folder = Path(last_submission(run.run_dir)["folder"])
    for rank in (0, 1):
        task_log = (folder / f"{job_id}_{rank}_log.err").read_text()
        assert f"rank {rank} of 2 (gloo) at {two_nodes[0]}:" in task_log, task_log[-2000:]
        assert f"rank {rank} INFO resumed from" in task_log, task_log[-2000:]
