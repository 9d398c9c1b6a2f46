"""Launching on the real local SLURM (slurm/start-local-slurm.sh): arrays with progressive chains,
requeue and resume from a checkpoint, idempotent relaunch, failures and their dependents, the GPU
request path, resource validation, and the 288-run grid submitted held and cancelled in time."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from slurm_fixture import load_grid, local_slurm, synthetic_root, tiny_grid, wait_for  # noqa: F401

from benchmark.cli import main
from benchmark.engine.atomic_io import write_json_atomic
from benchmark.engine.metrics_jsonl import read_metrics
from benchmark.errors import ConfigError
from benchmark.grid import paper_mini_grid
from benchmark.launch import cancel, launch, load_profile, observe
from benchmark.launch import scheduler as sched

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def _job_state(job_id: str) -> str | None:
    info = sched.query([job_id]).get(job_id)
    return info.state if info else None


def _settled(exp):
    views = observe(exp)
    return views if not any(v.active for v in views.values()) else None


def test_small_grid_on_slurm_with_requeue_and_relaunch(local_slurm, synthetic_root, tmp_path, capsys,  # noqa: F811
                                                       monkeypatch):
    """Two runs are interrupted after their first epoch: one by ``scontrol requeue`` (SIGTERM: SLURM
    requeues it), one by SIGUSR1 (the time-limit warning: the job checkpoints and requeues itself)."""
    # each forward pass of the jobs (they inherit this environment) sleeps, so runs outlast the interruption
    monkeypatch.setenv("STBENCH_TINY_DELAY_S", "0.1")
    requeued_id, warned_id = "synthetic-temporal/TAM-TinyResNet-f8", "synthetic-temporal/TSN-TinyResNet-f8"
    spec = tiny_grid(synthetic_root, tmp_path / "out", modules=("TSN", "TAM"),
                     overrides=[{"match": {"module": ["TAM", "TSN"], "frames": 8}, "set": {"epochs": 10}}])
    exp = load_grid(spec, tmp_path)
    assert (len(exp.runs()), len(exp.dependencies())) == (4, 2)
    report = launch(exp, executor="slurm", profile="local")
    assert sorted(report.submitted) == sorted(r.run_id for r in exp.runs())
    # f4 runs form one array; the f8 runs one array depending task by task (aftercorr).
    arrays = {job.split("_")[0] for job in report.job_ids.values()}
    assert len(arrays) == 2

    runs = {r.run_id: r for r in exp.runs()}
    to_interrupt = {requeued_id: ["scontrol", "requeue"], warned_id: ["scancel", "--signal=USR1"]}
    to_release: dict[str, float] = {}
    deadline = time.time() + 300
    while to_interrupt or to_release:  # both at once: each is interrupted right after its first epoch
        assert time.time() < deadline, f"timed out interrupting {list(to_interrupt)}, releasing {list(to_release)}"
        for run_id in [r for r in to_interrupt if read_metrics(runs[r].run_dir)]:
            job = report.job_ids[run_id]
            assert _job_state(job) == "RUNNING", f"{run_id} finished before it could be interrupted"
            subprocess.run([*to_interrupt.pop(run_id), job], check=True, capture_output=True)
            to_release[job] = time.time()
        for job, since in list(to_release.items()):
            # A requeued job waits ~120 s (BeginTime); releasing it in the same second as the
            # requeue revokes its credential, a few seconds later is fine.
            if time.time() - since > 3 and _job_state(job) == "PENDING":
                subprocess.run(["scontrol", "update", f"jobid={job}", "StartTime=now"], check=True,
                               capture_output=True)
                del to_release[job]
        time.sleep(0.2)

    views = wait_for(lambda: _settled(exp), 300, "all runs to end")
    assert {v.run_id: v.state for v in views.values()} == {r.run_id: "done" for r in exp.runs()}
    for run in exp.runs():
        result = json.loads((run.run_dir / "result.json").read_text())
        assert result["run_id"] == run.run_id and 0 <= result["top1"] <= 100
    # The interrupted runs checkpointed on the signal and resumed: each epoch once, same job id.
    for run_id, signame in ((requeued_id, "SIGTERM"), (warned_id, "SIGUSR1")):
        run = runs[run_id]
        log_text = (run.run_dir / "log.txt").read_text()
        assert f"preempted by signal {signame}" in log_text and "resumed from" in log_text
        assert [m["epoch"] for m in read_metrics(run.run_dir)] == list(range(1, 11))
        assert views[run_id].job_id == report.job_ids[run_id]

    again = launch(exp, executor="slurm", profile="local")
    assert again.submitted == [] and len(again.skipped_done) == 4


def test_failed_run_is_reported_and_its_dependents_do_not_run(local_slurm, synthetic_root, tmp_path, capsys):  # noqa: F811
    """Also exercises the GPU request path: the profile asks for one (placeholder) GPU per task.

    The first run starts from a run that says it is done but has no checkpoint, so it fails (a run
    starting from an unfinished one would not be submitted at all)."""
    missing = tmp_path / "no-checkpoint-run"
    missing.mkdir()
    write_json_atomic(missing / "result.json", {"top1": 50.0, "wall_time_s": 1.0})
    spec = tiny_grid(synthetic_root, tmp_path / "out", modules=("TSN",),
                     overrides=[{"match": {"frames": 4}, "set": {"init_from": str(missing)}}])
    exp = load_grid(spec, tmp_path)
    f4, f8 = exp.runs()
    report = launch(exp, executor="slurm", profile="local-gpu")
    assert report.submitted == [f4.run_id, f8.run_id]
    views = wait_for(lambda: _settled(exp), 180, "the runs to end")
    assert views[f4.run_id].state == "failed"
    assert str(missing) in views[f4.run_id].reason
    assert views[f8.run_id].state == "blocked"
    assert views[f8.run_id].reason == f"upstream {f4.run_id} failed"
    assert _job_state(report.job_ids[f8.run_id]) == "CANCELLED"
    assert not (f8.run_dir / "state.json").exists()  # never started
    tres = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "AllocTRES", "-j", report.job_ids[f4.run_id]],
                          capture_output=True, text=True).stdout
    assert "gres/gpu=1" in tres
    yaml_path = tmp_path / "e.yaml"
    import yaml

    yaml_path.write_text(yaml.safe_dump(spec))
    assert main(["status", str(yaml_path)]) == 0
    out = capsys.readouterr().out
    # (the table shortens a reason past 160 characters in its middle: a long TMPDIR cuts the path)
    assert "failed" in out and f"{missing.name}/checkpoints/best.pt not found" in out and "blocked" in out


def test_profile_resources_are_checked_before_submitting(local_slurm, tmp_path):  # noqa: F811
    cpus, gpus = sched.node_limits("debug")
    prof = load_profile("local")
    prof.cpus_per_task = cpus + 1
    with pytest.raises(ConfigError, match=f"cpus_per_task {cpus + 1}.*has {cpus}"):
        sched.check_resources(prof)
    prof = load_profile("local-gpu")
    prof.gpus_per_node = gpus + 1
    with pytest.raises(ConfigError, match=f"gpus_per_node {gpus + 1}.*has {gpus} GPU"):
        sched.check_resources(prof)


def test_paper_grid_submitted_held_and_cancelled_within_30s(local_slurm, tmp_path, capsys):  # noqa: F811
    start = time.time()
    exp = paper_mini_grid(output=tmp_path / "paper")
    report = launch(exp, executor="slurm", profile="local", hold=True)
    submitted = time.time() - start
    assert len(report.submitted) == 288
    assert len({job.split("_")[0] for job in report.job_ids.values()}) == 4  # f8 array + 3 aftercorr arrays
    cancelled = cancel(exp)
    elapsed = time.time() - start
    assert len(cancelled) == 288
    with capsys.disabled():
        print(f"\n288-run grid: planned + submitted held in {submitted:.1f} s, cancelled at {elapsed:.1f} s")
    assert elapsed < 30
    views = wait_for(lambda: _settled(exp), 60, "the cancelled jobs to leave the queue")
    assert {v.state for v in views.values()} <= {"cancelled", "blocked"}


def test_one_task_per_gpu_trains_with_ddp(local_slurm, synthetic_root, tmp_path):  # noqa: F811
    """gpus_per_node: 2 -> 2 tasks with a placeholder GPU each, joined into one gloo DDP run on CPU."""
    prof = load_profile("local-gpu")
    prof.gpus_per_node = 2
    spec = tiny_grid(synthetic_root, tmp_path / "out", modules=("TSN",), frames=(4,))
    spec["run"].update(epochs=1, batch_size=4)
    exp = load_grid(spec, tmp_path)
    (run,) = exp.runs()
    launch(exp, executor="slurm", profile=prof)
    views = wait_for(lambda: _settled(exp), 180, "the DDP run to end")
    assert views[run.run_id].state == "done", views[run.run_id].reason
    result = json.loads((run.run_dir / "result.json").read_text())
    assert result["environment"]["world_size"] == 2
