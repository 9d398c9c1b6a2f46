"""Launching with the local executor, and the idempotence rules decided from the results store."""

from __future__ import annotations

import json
import os
import socket

import pytest
from slurm_fixture import load_grid, synthetic_root, tiny_grid  # noqa: F401 (fixture)

from benchmark.cli import main
from benchmark.engine.atomic_io import write_json_atomic
from benchmark.engine.metrics_jsonl import read_metrics
from benchmark.engine.run_layout import write_state
from benchmark.launch import format_table, launch, observe, plan_submissions
from benchmark.launch.cluster_profile import load_profile
from benchmark.launch.record import add_submission, submissions


def _fake_result(run_dir, top1=50.0):
    write_json_atomic(run_dir / "result.json", {"top1": top1, "wall_time_s": 12.0})


def test_decisions_come_from_the_run_directories(tmp_path, synthetic_root):  # noqa: F811
    """done -> skipped; running (live process) -> never duplicated; failed -> resubmitted with its
    dependents; never submitted -> submitted."""
    exp = load_grid(tiny_grid(synthetic_root, tmp_path / "out"), tmp_path)
    runs = {r.run_id: r for r in exp.runs()}
    tsn4, tsn8 = runs["synthetic-temporal/TSN-TinyResNet-f4"], runs["synthetic-temporal/TSN-TinyResNet-f8"]
    tam4, tam8 = runs["synthetic-temporal/TAM-TinyResNet-f4"], runs["synthetic-temporal/TAM-TinyResNet-f8"]
    tsm4, tsm8 = runs["synthetic-temporal/TSM-TinyResNet-f4"], runs["synthetic-temporal/TSM-TinyResNet-f8"]
    for r in (tsn4, tsn8):  # both done
        r.run_dir.mkdir(parents=True)
        _fake_result(r.run_dir)
    tam4.run_dir.mkdir(parents=True)  # failed, its dependent never ran
    write_state(tam4.run_dir, "failed", reason="RuntimeError: boom", epoch=1)
    add_submission(tam4.run_dir, job_id="999999999", executor="local", folder=tmp_path)
    tsm4.run_dir.mkdir(parents=True)  # running in a live local process (this one)
    write_state(tsm4.run_dir, "running", epoch=1)
    add_submission(tsm4.run_dir, job_id=str(os.getpid()), executor="local", folder=tmp_path)

    views = observe(exp)
    assert [views[r.run_id].state for r in (tsn4, tsn8, tam4, tam8, tsm4, tsm8)] == [
        "done", "done", "failed", "blocked", "running", "planned"]
    assert views[tam4.run_id].reason == "RuntimeError: boom"
    assert views[tam8.run_id].reason == f"upstream {tam4.run_id} failed"
    assert views[tsm4.run_id].active and views[tsm4.run_id].job_id == str(os.getpid())

    to_submit, _, to_cancel = plan_submissions(exp)
    assert [r.run_id for r in to_submit] == [tam4.run_id, tam8.run_id, tsm8.run_id]
    assert to_cancel == []
    table = format_table(views)
    assert "RuntimeError: boom" in table and "6 runs: 1 blocked, 2 done, 1 failed, 1 planned, 1 running" in table


def test_a_process_that_died_mid_run_is_interrupted_and_resubmitted(tmp_path, synthetic_root):  # noqa: F811
    exp = load_grid(tiny_grid(synthetic_root, tmp_path / "out", modules=("TSN",), frames=(4,)), tmp_path)
    (run,) = exp.runs()
    run.run_dir.mkdir(parents=True)
    write_state(run.run_dir, "running", epoch=1)
    dead = {"job_id": "999999999", "executor": "local", "folder": str(tmp_path), "host": socket.gethostname()}
    write_json_atomic(run.run_dir / "launch.json", {"submissions": [dead]})
    (view,) = observe(exp).values()
    assert (view.state, view.active) == ("interrupted", False)
    assert [r.run_id for r in plan_submissions(exp)[0]] == [run.run_id]


def test_a_reused_pid_is_not_mistaken_for_the_run(tmp_path, synthetic_root):  # noqa: F811
    """A local job is its process: same PID but another start time (the PID was reused) is not it."""
    exp = load_grid(tiny_grid(synthetic_root, tmp_path / "out", modules=("TSN",), frames=(4,)), tmp_path)
    (run,) = exp.runs()
    run.run_dir.mkdir(parents=True)
    write_state(run.run_dir, "running", epoch=1)
    entry = add_submission(run.run_dir, job_id=str(os.getpid()), executor="local", folder=tmp_path)
    assert entry["proc_start"] is not None
    assert observe(exp)[run.run_id].active  # this very process: running
    write_json_atomic(run.run_dir / "launch.json", {"submissions": [{**entry, "proc_start": "1"}]})
    view = observe(exp)[run.run_id]
    assert not view.active and view.state == "interrupted"


def test_a_selected_run_waits_for_its_unselected_upstream(tmp_path, synthetic_root):  # noqa: F811
    """--runs 'f8 only': the f4 runs it starts from are still dependencies, not ignored."""
    exp = load_grid(tiny_grid(synthetic_root, tmp_path / "out", modules=("TSN",)), tmp_path)
    runs = {r.run_id: r for r in exp.runs()}
    f4, f8 = runs["synthetic-temporal/TSN-TinyResNet-f4"], runs["synthetic-temporal/TSN-TinyResNet-f8"]
    only_f8 = lambda r: r.run_id == f8.run_id  # noqa: E731
    views = plan_submissions(exp, [f8])[1]
    assert views[f4.run_id].state == "planned"  # the upstream is observed although not selected
    report = launch(exp, executor="local", only=only_f8)
    assert report.submitted == [] and report.blocked == [f8.run_id]
    assert not (f8.run_dir / "result.json").exists() and not (f8.run_dir / "state.json").exists()
    f4.run_dir.mkdir(parents=True)  # once the upstream is done, the selected run is submitted
    _fake_result(f4.run_dir)
    assert [r.run_id for r in plan_submissions(exp, [f8])[0]] == [f8.run_id]


@pytest.mark.slow
def test_small_grid_runs_with_the_local_executor(tmp_path, synthetic_root, capsys):  # noqa: F811
    # two progressive chains (f4 -> f8) of two modules: 4 runs, two at a time
    exp = load_grid(tiny_grid(synthetic_root, tmp_path / "out", modules=("TSN", "TAM")), tmp_path)
    report = launch(exp, executor="local", parallel=2)
    assert not report.failed and not report.blocked, report
    assert sorted(report.submitted) == sorted(r.run_id for r in exp.runs())
    views = observe(exp)
    assert {v.state for v in views.values()} == {"done"}
    for run in exp.runs():
        result = json.loads((run.run_dir / "result.json").read_text())
        assert result["run_id"] == run.run_id and result["model"] == run.config["model"]
        assert [m["epoch"] for m in read_metrics(run.run_dir)] == [1, 2]
        assert views[run.run_id].best_top1 is not None
        assert len(submissions(run.run_dir)) == 1
    # The f8 runs started from their f4 run's checkpoint (progressive training).
    f8 = next(r for r in exp.runs() if r.run_id.endswith("TAM-TinyResNet-f8"))
    assert f8.config["init_from"] == str(f8.run_dir.parent / "TAM-TinyResNet-f4")
    assert "TAM-TinyResNet-f4" in (f8.run_dir / "log.txt").read_text()
    # Relaunching submits nothing.
    again = launch(exp, executor="local", parallel=2)
    assert again.submitted == [] and len(again.skipped_done) == 4


def test_cli_status_and_profiles(tmp_path, synthetic_root, capsys):  # noqa: F811
    import yaml

    spec = tiny_grid(synthetic_root, tmp_path / "out", modules=("TSN",))
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["status", str(path)]) == 0
    out = capsys.readouterr().out
    assert "synthetic-temporal/TSN-TinyResNet-f4" in out and "2 runs: 2 planned" in out
    assert main(["status", str(path), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["state"] for r in rows] == ["planned", "planned"]
    assert main(["launch", str(path), "--hold"]) == 2
    assert "--hold only applies to --executor slurm" in capsys.readouterr().err
    prof = load_profile("gpu-cluster")
    assert (prof.gpus_per_node, prof.tasks_per_node, prof.name) == (6, 6, "gpu-cluster")
    with pytest.raises(Exception, match="unknown cluster profile 'nope'.*available: .*local"):
        load_profile("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("partition: x\ncpus_per_tsk: 4\n")
    with pytest.raises(Exception, match="unknown key 'cpus_per_tsk'; did you mean 'cpus_per_task'"):
        load_profile(bad)


def test_a_slurm_job_is_never_duplicated_when_slurm_cannot_be_asked(tmp_path, synthetic_root, monkeypatch):  # noqa: F811
    from benchmark.launch import scheduler

    monkeypatch.setattr(scheduler, "available", lambda: False)
    exp = load_grid(tiny_grid(synthetic_root, tmp_path / "out", modules=("TSN",)), tmp_path)
    f4, f8 = exp.runs()
    add_submission(f4.run_dir, job_id="123_0", executor="slurm", folder=tmp_path)
    views = observe(exp)
    assert (views[f4.run_id].state, views[f4.run_id].active) == ("unknown", True)
    assert "not reachable" in views[f4.run_id].reason
    assert plan_submissions(exp)[0] == [f8]


def test_slurm_job_parameters_follow_the_profile(tmp_path):
    """What sbatch receives for the example GPU cluster profile (no cluster, nor srun, needed)."""
    from submitit.slurm.slurm import _make_sbatch_string

    from benchmark.launch.executors.slurm import sbatch_parameters

    prof = load_profile("gpu-cluster")
    p = sbatch_parameters(prof, "exp", hold=True, dependency="afterok:12_3")
    assert (p["nodes"], p["ntasks_per_node"], p["gpus_per_node"], p["cpus_per_task"]) == (1, 6, 6, 8)
    assert (p["partition"], p["constraint"], p["time"], p["mem"]) == ("gpu", "v100", 1440, "256G")
    assert p["setup"] == prof.setup and p["array_parallelism"] == 16
    extra = p["additional_parameters"]
    assert extra["signal"] == "USR1@300" and extra["requeue"] is True and extra["hold"] is True
    assert (extra["dependency"], extra["kill-on-invalid-dep"]) == ("afterok:12_3", "yes")
    assert "account" not in p and "qos" not in p  # null in the profile: the cluster's default
    # submitit accepts them as they are and writes these sbatch lines (its own check, without srun)
    script = _make_sbatch_string(command="true", folder=tmp_path, **p).splitlines()
    for line in ("#SBATCH --job-name=stbench:exp", "#SBATCH --gpus-per-node=6", "#SBATCH --ntasks-per-node=6",
                 "#SBATCH --signal=USR1@300", "#SBATCH --dependency=afterok:12_3", "#SBATCH --hold",
                 "#SBATCH --kill-on-invalid-dep=yes", "#SBATCH --time=1440"):
        assert line in script, line


def test_a_task_of_a_multi_gpu_job_gets_its_own_gpu(monkeypatch):
    """The job's entry point narrows CUDA_VISIBLE_DEVICES to the task's entry of the job's GPUs
    (a job given GPUs 2,3 of a shared node: task 1 uses GPU 3, not GPU 1)."""
    from benchmark.engine.distributed import ddp_env_from_slurm

    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_WORLD_SIZE"):
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    slurm = {"SLURM_JOB_ID": "77", "SLURM_NTASKS": "2", "SLURM_PROCID": "1", "SLURM_LOCALID": "1",
             "SLURM_NODEID": "0", "SLURM_JOB_NUM_NODES": "1", "SLURM_JOB_NODELIST": "gpu07",
             "CUDA_VISIBLE_DEVICES": "2,3"}
    for key, value in slurm.items():
        monkeypatch.setenv(key, value)
    ddp_env_from_slurm(one_gpu_per_task=True)
    assert (os.environ["RANK"], os.environ["LOCAL_RANK"], os.environ["CUDA_VISIBLE_DEVICES"]) == ("1", "1", "3")
    assert os.environ["MASTER_PORT"] == str(20000 + 77)
    ddp_env_from_slurm(one_gpu_per_task=True)  # idempotent: already set up, nothing changes
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"


def test_failure_reasons_keep_the_file_name_and_name_a_killed_job():
    from benchmark.launch.executor import error_line_of, shorten
    from benchmark.launch.executors.local import failure_reason

    path = "/very/long/" + "d" * 300 + "/checkpoints/last.pt"
    line = f"benchmark.errors.DataError: {path}: cannot load (truncated zip)"
    assert shorten(line).startswith("benchmark.errors.DataError: /very/long/") and len(shorten(line)) <= 300
    assert shorten(line).endswith("cannot load (truncated zip)")
    text = "Traceback (most recent call last):\n  File \"x.py\", line 1\n" + line + "\nsubmitit INFO (2026) - done"
    assert error_line_of(text.splitlines()) == shorten(line)
    killed = RuntimeError("submitit INFO (2026-12-01 10:00:00,000) - Loading pickle: /tmp/x_submitted.pkl")
    assert "killed by a signal" in failure_reason(killed)
    assert failure_reason(RuntimeError(line)) == shorten(line)


def test_runs_starting_from_an_unfinished_run_of_another_experiment_wait(tmp_path, synthetic_root, capsys):  # noqa: F811
    """Fine-tuning from another experiment's run: not submitted (it could only fail) until that run is
    done, and the launch says what it waits for."""
    source = load_grid(tiny_grid(synthetic_root, tmp_path / "a", modules=("TSN",), frames=(4,)), tmp_path)
    (upstream,) = source.runs()
    spec = tiny_grid(synthetic_root, tmp_path / "b", modules=("TSN",), frames=(4,), name="finetune")
    spec["run"]["init_from"] = str(upstream.run_dir)
    experiment = tmp_path / "finetune.yaml"
    experiment.write_text(json.dumps(spec))
    assert main(["launch", str(experiment)]) == 0
    out = capsys.readouterr().out
    (run,) = load_grid(spec, tmp_path).runs()
    assert f"{run.run_id}: not submitted, waits for {upstream.run_dir} (init_from, not done)" in out
    assert "1 not submitted" in out and not run.run_dir.exists()
    upstream.run_dir.mkdir(parents=True)
    _fake_result(upstream.run_dir)
    from benchmark.launch.launcher import _outside_upstreams_missing

    assert _outside_upstreams_missing(load_grid(spec, tmp_path).runs()) == {}
