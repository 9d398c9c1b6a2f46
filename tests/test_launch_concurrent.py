"""A run is claimed before it is started: the claim's exclusivity and takeover rules under real
process races, what status shows for a claimed run, and concurrent ``stbench launch`` processes
of one experiment training every run exactly once."""

from __future__ import annotations

import errno
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from slurm_fixture import load_grid, local_slurm, synthetic_root, tiny_grid, wait_for  # noqa: F401 (fixtures)

from benchmark.engine import atomic_io
from benchmark.engine import claim as claims
from benchmark.engine.liveness import process_start
from benchmark.engine.metrics_jsonl import read_metrics
from benchmark.launch import launch, observe, plan_submissions
from benchmark.launch.record import submissions

FORK = mp.get_context("fork")


# -- helpers: claims held by other processes ---------------------------------------------------------
def _contender(run_dir, go, hold, results, index, fields):
    """Wait for ``go``, try to claim, report, and stay alive (a live winner) until ``hold``."""
    go.wait()
    try:
        won = claims.acquire(run_dir, claims.owner("launch", launch_id=f"L{index}", **fields))["token"]
    except claims.ClaimError as exc:
        won = f"refused: {exc}"
    results.put((index, won))
    hold.wait()


def _race(run_dir: Path, n: int, fields=None) -> dict[int, str]:
    go, hold, results = FORK.Event(), FORK.Event(), FORK.Queue()
    procs = [FORK.Process(target=_contender, args=(run_dir, go, hold, results, i, fields or {})) for i in range(n)]
    for p in procs:
        p.start()
    go.set()
    outcome = dict(results.get(timeout=60) for _ in procs)
    claim = claims.read_claim(run_dir)
    hold.set()
    for p in procs:
        p.join(30)
    outcome["claim"] = claim
    return outcome


def _dead_process() -> tuple[int, str]:
    """A PID (with its start time) of a process that has ended, as a SIGKILLed owner leaves it."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    start = process_start(proc.pid)
    proc.kill()
    proc.wait()
    return proc.pid, start


def _write_claim(run_dir: Path, **fields) -> dict:
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {**claims.owner("launch"), **fields}
    (run_dir / claims.CLAIM).write_text(json.dumps(record))
    return record


def _winners(outcome: dict) -> list[int]:
    return [i for i, v in outcome.items() if i != "claim" and not v.startswith("refused")]


# -- the claim itself ---------------------------------------------------------------------------------
def test_exactly_one_of_many_racing_processes_claims_a_run(tmp_path):
    outcome = _race(tmp_path / "run", 8)
    (winner,) = _winners(outcome)
    assert outcome["claim"]["token"] == outcome[winner] and outcome["claim"]["launch_id"] == f"L{winner}"
    for i in set(range(8)) - {winner}:  # each loser names the live winner
        assert f"owned by launch L{winner} / pid " in outcome[i] and socket.gethostname() in outcome[i]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [claims.CLAIM]  # no temporaries left


def test_without_hard_links_the_exclusive_create_still_has_one_winner(tmp_path, monkeypatch):
    def no_link(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(atomic_io.os, "link", no_link)  # the forked contenders inherit it
    outcome = _race(tmp_path / "run", 6)
    (winner,) = _winners(outcome)
    assert outcome["claim"]["token"] == outcome[winner]


def test_a_dead_owners_claim_is_taken_over_by_exactly_one_of_many(tmp_path):
    run = tmp_path / "run"
    pid, start = _dead_process()
    stale = _write_claim(run, pid=pid, proc_start=start, holder="job")
    outcome = _race(run, 6)
    (winner,) = _winners(outcome)
    assert outcome["claim"]["token"] == outcome[winner] != stale["token"]
    assert all(f"owned by launch L{winner}" in outcome[i] for i in set(range(6)) - {winner})
    assert sorted(p.name for p in run.iterdir()) == [claims.CLAIM]  # takeover markers removed


def test_a_taker_that_died_mid_takeover_is_itself_taken_over(tmp_path):
    run = tmp_path / "run"
    pid, start = _dead_process()
    stale = _write_claim(run, pid=pid, proc_start=start)
    marker = run / f".{claims.CLAIM}.takeover-{stale['token']}"
    marker.write_text(json.dumps({**claims.owner("launch"), "pid": pid, "proc_start": start}))
    mine = claims.acquire(run, claims.owner("launch", launch_id="me"))
    assert claims.read_claim(run) == mine and not marker.exists()


def test_a_live_owner_is_never_taken_over(tmp_path):
    run = tmp_path / "run"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = _write_claim(run, pid=sleeper.pid, proc_start=process_start(sleeper.pid), launch_id="other")
        with pytest.raises(claims.ClaimError, match=f"owned by launch other / pid {sleeper.pid} on host"):
            claims.acquire(run, claims.owner("launch"))
        assert _winners(_race(run, 4)) == []
        assert claims.read_claim(run) == live
        # A reused PID (same number, another start time) is not the owner: taken over.
        _write_claim(run, pid=sleeper.pid, proc_start="1")
        assert claims.acquire(run, claims.owner("launch"))["pid"] == os.getpid()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_claim_from_another_host_is_left_alone_unless_its_job_is_known_gone(tmp_path):
    run = tmp_path / "run"
    other = _write_claim(run, host="node-elsewhere", pid=1, executor="slurm", job_id="4242")
    with pytest.raises(claims.ClaimError, match="node-elsewhere .*cannot tell whether it is alive"):
        claims.acquire(run, claims.owner("launch"))
    with pytest.raises(claims.ClaimError, match="owned by launch"):
        claims.acquire(run, claims.owner("launch"), judge=lambda c: True)  # its job still runs
    assert claims.read_claim(run) == other
    seen = []
    mine = claims.acquire(run, claims.owner("launch"), judge=lambda c: seen.append(c["job_id"]) or False)
    assert seen == ["4242"] and claims.read_claim(run) == mine


def test_a_claim_naming_a_job_lives_as_long_as_the_job_not_the_launch(tmp_path):
    """A live launch's claim that names its job: the job's word decides (a cancelled job's claim is
    taken over although the launch still runs); only when nobody can judge the job does the
    launch's process count. A claim without a job lives with its process, whatever a judge says."""
    run = tmp_path / "run"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    live = {"pid": sleeper.pid, "proc_start": process_start(sleeper.pid), "launch_id": "L1"}
    try:
        with_job = {**live, "executor": "slurm", "job_id": "12_3"}
        assert claims.alive(_write_claim(run, **with_job), judge=lambda c: False) is False
        assert claims.alive(_write_claim(run, **with_job), judge=lambda c: None) is True  # the launch lives
        assert claims.alive(_write_claim(run, **with_job)) is True  # no judge here
        assert claims.alive(_write_claim(run, **live), judge=lambda c: False) is True  # no job named
        _write_claim(run, **with_job)
        with pytest.raises(claims.ClaimError, match="owned by launch L1"):
            claims.acquire(run, claims.owner("launch"), judge=lambda c: True)
        assert claims.acquire(run, claims.owner("launch"), judge=lambda c: False)["pid"] == os.getpid()
    finally:
        sleeper.kill()
        sleeper.wait()
    pid, start = _dead_process()
    dead = {"pid": pid, "proc_start": start, "executor": "slurm", "job_id": "12_3"}
    assert claims.alive(_write_claim(run, **dead), judge=lambda c: True) is True  # queued, its launch gone
    assert claims.alive(_write_claim(run, **dead), judge=lambda c: None) is None  # may run somewhere
    assert claims.alive(_write_claim(run, pid=pid, proc_start=start), judge=lambda c: True) is False


def test_handover_to_the_granted_job_and_release(tmp_path):
    """The job given the launch's token takes the claim over (keeping what the launch recorded),
    even again after a requeue; nobody else does; release removes only one's own claim."""
    run = tmp_path / "run"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        launch_claim = _write_claim(run, pid=sleeper.pid, proc_start=process_start(sleeper.pid),
                                    launch_id="L1", executor="slurm", job_id="77_0")
        job = claims.acquire(run, claims.owner("job", grant=launch_claim["token"]))
        assert (job["holder"], job["launch_id"], job["job_id"], job["pid"]) == ("job", "L1", "77_0", os.getpid())
        assert job["token"] != launch_claim["token"] and claims.read_claim(run) == job
        assert claims.release(run, launch_claim["token"]) is False and claims.read_claim(run) == job
        # A requeued attempt of the same job (same grant) takes it over from its dead predecessor's claim.
        pid, start = _dead_process()
        (run / claims.CLAIM).write_text(json.dumps({**job, "pid": pid, "proc_start": start}))
        again = claims.acquire(run, claims.owner("job", grant=launch_claim["token"]))
        assert again["launch_id"] == "L1" and claims.release(run, again["token"])
        assert claims.read_claim(run) is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_an_unreadable_claim_is_taken_over_and_held_is_reentrant(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / claims.CLAIM).write_bytes(b"\xff\xfe not json")
    with pytest.raises(claims.ClaimError, match="owned by an unreadable claim .*cannot tell"):
        claims.acquire(run, claims.owner("job"))  # it may be being written (no hard links): left alone
    old = time.time() - claims.CORRUPT_AFTER_S - 5
    os.utime(run / claims.CLAIM, (old, old))
    with claims.held(run, "job") as outer:
        with claims.held(run, "train") as inner:  # train() inside a launch's job: the same claim
            assert inner == outer
        assert claims.read_claim(run) == outer  # the inner block released nothing
    assert claims.read_claim(run) is None


def test_a_refused_claim_stops_every_ddp_rank(tmp_path):
    """Rank 0 alone claims; the others get its verdict (a broadcast) and stop with it, not wait."""
    run = tmp_path / "run"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_claim(run, pid=sleeper.pid, proc_start=process_start(sleeper.pid), launch_id="L2")
        sent = []
        with pytest.raises(claims.ClaimError, match="owned by launch L2"):
            with claims.held(run, "train", share=lambda v: sent.append(v) or v):
                pytest.fail("rank 0 entered the block without the claim")
        (refusal,) = sent
        with pytest.raises(claims.ClaimError, match="rank 0 could not claim .*owned by launch L2"):
            with claims.held(run, "train", active=False, share=lambda v: refusal):
                pytest.fail("another rank entered the block although rank 0 was refused")
    finally:
        sleeper.kill()
        sleeper.wait()
    with claims.held(tmp_path / "free", "train", active=False, share=lambda v: None) as claim:
        assert claim is None and claims.read_claim(tmp_path / "free") is None  # only rank 0 claims


# -- what launch and status make of claims ------------------------------------------------------------
def test_status_shows_a_claimed_run_and_launch_leaves_it(tmp_path, synthetic_root):  # noqa: F811
    exp = load_grid(tiny_grid(synthetic_root, tmp_path / "out", modules=("TSN",)), tmp_path)
    f4, f8 = exp.runs()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_claim(f4.run_dir, pid=sleeper.pid, proc_start=process_start(sleeper.pid), launch_id="L9")
        _write_claim(f8.run_dir, host="node-elsewhere", pid=1)
        views = observe(exp)
        assert (views[f4.run_id].state, views[f4.run_id].active) == ("pending", True)
        assert views[f4.run_id].reason == (f"queued: claimed by launch L9 / pid {sleeper.pid} on host "
                                           f"{socket.gethostname()}, not started yet")
        assert (views[f8.run_id].state, views[f8.run_id].active) == ("unknown", True)
        assert "node-elsewhere" in views[f8.run_id].reason
        assert plan_submissions(exp)[0] == []
        report = launch(exp, executor="local")
        assert report.submitted == [] and sorted(report.owned) == [f4.run_id, f8.run_id]
        assert report.owned[f4.run_id] == f"launch L9 / pid {sleeper.pid} on host {socket.gethostname()}"
    finally:
        sleeper.kill()
        sleeper.wait()
    # Its owner gone, the run is planned again (a dead claim is no claim).
    assert observe(exp)[f4.run_id].state == "planned"


@pytest.mark.slow
def test_a_killed_jobs_stale_claim_is_taken_over_by_the_next_launch(tmp_path, synthetic_root):  # noqa: F811
    spec = tiny_grid(synthetic_root, tmp_path / "out", modules=("TSN",), frames=(4,))
    spec["run"]["epochs"] = 1
    exp = load_grid(spec, tmp_path)
    (run,) = exp.runs()
    pid, start = _dead_process()
    _write_claim(run.run_dir, holder="job", pid=pid, proc_start=start, launch_id="gone")
    report = launch(exp, executor="local")
    assert report.submitted == [run.run_id] and not report.failed and not report.owned
    assert [m["epoch"] for m in read_metrics(run.run_dir)] == [1]
    assert claims.read_claim(run.run_dir) is None  # the job released it at its end
    (sub,) = submissions(run.run_dir)
    assert sub["launch_id"] == report.launch_id


# -- the acceptance test: concurrent launches -----------------------------------------------------------
_LAUNCHER = """
import sys, time
from pathlib import Path
import torch, submitit  # noqa: F401  (the imports happen before the barrier)
from benchmark.cli import main
import benchmark.launch, benchmark.engine  # noqa: F401
barrier, name, parties, experiment = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
(barrier / name).touch()
while len(list(barrier.iterdir())) < parties:
    time.sleep(0.001)
sys.exit(main(["launch", experiment, *sys.argv[5:]]))
"""


def _start_launch(tmp_path: Path, barrier: Path, name: str, parties: int, experiment: Path, *args: str):
    script = tmp_path / "launcher.py"
    script.write_text(_LAUNCHER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                      os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, str(script), str(barrier), name, str(parties), str(experiment), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _launch_id(output: str) -> str:
    line = next(x for x in output.splitlines() if "; launch " in x)
    return line.split("; launch ")[1].split(")")[0]


@pytest.mark.slow
def test_concurrent_launches_train_every_run_exactly_once(tmp_path, synthetic_root):  # noqa: F811
    """Two launches at the same instant (a barrier after their imports) and a third while the runs
    are going: each run is trained once, by one process, recorded once, and the launches that did
    not start a run say who owns it."""
    epochs = 2
    spec = tiny_grid(synthetic_root, tmp_path / "out", modules=("TSN",), frames=(4, 8, 16))
    spec["run"]["epochs"] = epochs
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(yaml.safe_dump(spec))
    exp = load_grid(spec, tmp_path)
    runs = exp.runs()
    assert [r.depends_on for r in runs] == [[], [runs[0].run_id], [runs[1].run_id]]
    first, second = tmp_path / "barrier1", tmp_path / "barrier2"
    first.mkdir()
    second.mkdir()
    # --parallel 2: a job gets one of the 2 cores (threads = cores // parallel), the launches share them
    procs = {name: _start_launch(tmp_path, first, name, 2, experiment, "--parallel", "2")
             for name in ("a", "b")}
    wait_for(lambda: (runs[0].run_dir / "state.json").exists(), 300, "the first run to start")
    procs["c"] = _start_launch(tmp_path, second, "c", 1, experiment, "--parallel", "2")
    outputs = {}
    for name, proc in procs.items():
        outputs[name] = proc.communicate(timeout=600)[0]
        assert proc.returncode == 0, f"launch {name} exited {proc.returncode}:\n{outputs[name]}"
    ids = {name: _launch_id(out) for name, out in outputs.items()}
    assert len(set(ids.values())) == 3

    (tmp_path / "outputs.json").write_text(json.dumps(outputs))  # for a look after a failure
    job_logs = {p.parent.name: p.read_text() for p in (exp.output / ".submitit").glob("*/*_log.err")}
    submitted_by: dict[str, str] = {}
    for run in runs:
        (sub,) = submissions(run.run_dir)  # recorded once, by the launch that started it
        assert json.loads((run.run_dir / "state.json").read_text())["state"] == "done"
        # One job trained it (its start is in one job's log): the recorded one.
        assert [job for job, text in job_logs.items() if f"run {run.run_id}: " in text] == [sub["job_id"]]
        assert [m["epoch"] for m in read_metrics(run.run_dir)] == list(range(1, epochs + 1))
        log = (run.run_dir / "log.txt").read_text()
        assert log.count(f"run {run.run_id}: ") == 1 and "resumed" not in log  # one training start
        assert (run.run_dir / "result.json").is_file() and claims.read_claim(run.run_dir) is None
        (owner,) = [n for n, i in ids.items() if i == sub["launch_id"]]
        submitted_by[run.run_id] = owner
    # The first run was raced for by a and b: the loser says the winner owns it.
    winner = submitted_by[runs[0].run_id]
    assert winner in ("a", "b")
    loser = "b" if winner == "a" else "a"
    line = next(x for x in outputs[loser].splitlines() if x.strip().startswith(f"{runs[0].run_id}: "))
    assert "not started here, owned by" in line and ids[winner] in line, outputs[loser]
    # The third launch came while runs were going: it started none of those it found owned and
    # named their owners.
    # (Its final progress table lists every run, done by whoever, so look at its start lines.)
    for run_id, owner in submitted_by.items():
        if owner != "c":
            assert f"started {run_id} (" not in outputs["c"], outputs["c"]
            for x in outputs["c"].splitlines():
                if x.strip().startswith(f"{run_id}: "):
                    assert "owned by" in x, outputs["c"]
    assert "owned by" in outputs["c"] or submitted_by[runs[-1].run_id] == "c", outputs["c"]
    assert all("Traceback" not in out for out in outputs.values())


@pytest.mark.slurm
@pytest.mark.slow
def test_concurrent_slurm_launches_submit_each_run_once(local_slurm, synthetic_root, tmp_path):  # noqa: F811
    """Two ``launch --executor slurm`` at the same instant: each run is submitted once (held,
    recorded, its claim naming the job, then released) and trained once; the other launch names
    the owner of what it did not submit."""
    spec = tiny_grid(synthetic_root, tmp_path / "out", modules=("TSN", "TAM"), frames=(4, 8))
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(yaml.safe_dump(spec))
    exp = load_grid(spec, tmp_path)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = {n: _start_launch(tmp_path, barrier, n, 2, experiment, "--executor", "slurm", "--profile", "local")
             for n in ("a", "b")}
    outputs = {n: p.communicate(timeout=300)[0] for n, p in procs.items()}
    assert all(p.returncode == 0 for p in procs.values()), outputs
    ids = {n: _launch_id(out) for n, out in outputs.items()}
    by: dict[str, str] = {}
    for run in exp.runs():
        (sub,) = submissions(run.run_dir)
        (by[run.run_id],) = [n for n, i in ids.items() if i == sub["launch_id"]]
        claim = claims.read_claim(run.run_dir)  # the launch's (naming its job) or, once started, the job's
        assert claim is None or (claim["executor"], claim["job_id"]) == ("slurm", sub["job_id"])
        other = "b" if by[run.run_id] == "a" else "a"
        assert f"{run.run_id}: not started here, owned by" in outputs[other], outputs[other]

    def settled():
        views = observe(exp)
        return views if not any(v.active for v in views.values()) else None

    views = wait_for(settled, 600, "the runs to end")
    assert {v.state for v in views.values()} == {"done"}, {k: (v.state, v.reason) for k, v in views.items()}
    for run in exp.runs():
        assert [m["epoch"] for m in read_metrics(run.run_dir)] == [1, 2]
        assert (run.run_dir / "log.txt").read_text().count(f"run {run.run_id}: ") == 1
        assert claims.read_claim(run.run_dir) is None
