"""Acceptance: a new executor is one file outside the package, named in STBENCH_PLUGINS.

The plugin below runs each job in the foreground, as a subprocess of the launching process; the
test drives ``stbench launch --executor foreground`` / ``status`` / relaunch in a fresh Python
(plugins load once per process) on a 1-run synthetic experiment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import yaml
from slurm_fixture import synthetic_root, tiny_grid  # noqa: F401 (fixture)

from benchmark.engine.schema import validate_result

PLUGIN = '''
"""Runs each job in the foreground, in a subprocess, one after another."""
import json
import subprocess
import sys

from benchmark.launch.executor import COMPLETED, Executor, JobView, register_executor
from benchmark.launch.record import add_submission

TRAIN = "import json, sys; from benchmark.engine import train; train(json.load(open(sys.argv[1])), sys.argv[2])"


@register_executor("foreground")
class Foreground(Executor):
    waits = True

    def submit(self, plan, options, report):
        plan.folder.mkdir(parents=True, exist_ok=True)
        for n, run in enumerate(plan.runs):
            config = plan.folder / f"job{n}.json"
            config.write_text(json.dumps(run.config))
            job_id = f"job{n}"
            add_submission(run.run_dir, job_id=job_id, executor=self.name, folder=plan.folder)
            report.submitted.append(run.run_id)
            report.job_ids[run.run_id] = job_id
            code = subprocess.run([sys.executable, "-c", TRAIN, str(config), str(run.run_dir)]).returncode
            if code:
                report.failed[run.run_id] = f"exit code {code}"

    def observe(self, submissions):
        return {run_id: JobView(COMPLETED, "exited") for run_id in submissions}

    def cancel(self, submissions):
        pass

    def describe(self, submission):
        return "fg:" + submission["job_id"]
'''

DRIVER = textwrap.dedent('''
    import sys
    from benchmark.cli import main

    path = sys.argv[1]
    for argv in (["launch", path, "--executor", "nope"], ["launch", path, "--executor", "foreground"],
                 ["status", path], ["status", path, "--format", "json"],
                 ["launch", path, "--executor", "foreground"]):
        print("=== " + " ".join(argv[:1] + argv[2:]), flush=True)
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse refusing a choice
            code = exc.code
        print(f"=== exit {code}", flush=True)
''')


def _sections(out: str) -> list[tuple[str, int]]:
    """(output, exit code) of each command the driver ran."""
    parts, text = [], ""
    for line in out.splitlines():
        if line.startswith("=== exit "):
            parts.append((text, int(line.split()[-1])))
            text = ""
        elif not line.startswith("=== "):
            text += line + "\n"
    return parts


def test_an_executor_plugin_runs_an_experiment_end_to_end(tmp_path, synthetic_root):  # noqa: F811
    (tmp_path / "fg_executor.py").write_text(PLUGIN)
    spec = tiny_grid(synthetic_root, tmp_path / "out", modules=("TSN",), frames=(4,), name="one")
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump(spec))
    # fg_executor, and the test network's plugin (tests/conftest.py)
    plugins = ",".join(filter(None, ["fg_executor", os.environ.get("STBENCH_PLUGINS")]))
    env = {**os.environ, "STBENCH_PLUGINS": plugins, "OMP_NUM_THREADS": "2",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(path)], env=env, capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    sections = _sections(proc.stdout)
    assert len(sections) == 5, proc.stdout + proc.stderr
    (_, refused), (launched, code1), (table, code2), (rows, code3), (again, code4) = sections
    assert refused == 2 and "invalid choice: 'nope'" in proc.stderr and "'foreground'" in proc.stderr
    assert "'local'" in proc.stderr and "'slurm'" in proc.stderr  # the choices are the registry's
    assert (code1, code2, code3, code4) == (0, 0, 0, 0), proc.stderr[-3000:]
    run_id = "synthetic-temporal/TSN-TinyResNet-f4"
    run_dir = tmp_path / "out" / run_id
    assert "one: submitted 1, skipped 0 done" in launched
    result = validate_result(json.loads((run_dir / "result.json").read_text()))
    assert result["run_id"] == run_id and result["epochs"] == 2
    # status shows the run done, with its job as the executor describes it
    line = next(x for x in table.splitlines() if x.startswith(run_id))
    assert line.split()[1] == "done" and "fg:job0" in line and "1 runs: 1 done" in table
    (row,) = json.loads(rows)
    assert (row["state"], row["executor"], row["job_id"]) == ("done", "foreground", "job0")
    # a relaunch submits nothing; the launch record holds the one submission
    assert "one: submitted 0, skipped 1 done" in again
    record = json.loads((run_dir / "launch.json").read_text())
    assert [(s["job_id"], s["executor"]) for s in record["submissions"]] == [("job0", "foreground")]
