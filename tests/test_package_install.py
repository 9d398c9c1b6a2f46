"""A normal (non-editable) install works away from the checkout: the reference results, the shipped
experiments and the cluster profiles come from the package itself.

The wheel is installed without dependencies into a folder of its own, first on the path of this
interpreter (which has torch etc.); the test checks that ``benchmark`` is then imported from the
wheel, not the checkout, before it runs the commands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import PLUGIN_DIR
from test_quickstart import TINY_DATA, tiny_quickstart

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel unpacked by pip into a folder of its own, put first on this interpreter's path.

    (A nested virtual environment would not see this environment's torch when the tests themselves
    run in a virtual environment.)
    """
    base = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(base / "dist"), str(REPO)], check=True, capture_output=True, timeout=300)
    wheel = next((base / "dist").glob("stbench-*.whl"))
    target = base / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, timeout=300)
    work = base / "elsewhere"  # not the checkout: nothing may be found relative to the current folder
    work.mkdir()
    # the wheel first; then the test-only network's plugin (tests/conftest.py), nothing of the checkout
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(PLUGIN_DIR)])}
    env.pop("STBENCH_REFERENCE_DIR", None)
    return target, work, env


def run(installed, *args, timeout=600):
    _, work, env = installed
    return subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=work, env=env, capture_output=True,
                          text=True, timeout=timeout)


def python(installed, code: str):
    _, work, env = installed
    return subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True)


@pytest.mark.slow
def test_the_wheel_is_what_runs(installed):
    target = installed[0]
    done = python(installed, "import benchmark; print(benchmark.__file__)")
    assert Path(done.stdout.strip()).is_relative_to(target), done.stdout + done.stderr


@pytest.mark.slow
def test_plan_a_shipped_experiment_by_name(installed):
    # (without the compute estimate: profiling its models takes most of the time and reads nothing
    # shipped; tests/test_grid_spec.py checks the estimate)
    done = run(installed, "plan", "paper_mini_grid", "--no-estimate", "--format", "json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert (plan["runs"], plan["dependencies"]) == (288, 216)


@pytest.mark.slow
def test_report_from_the_shipped_reference(installed):
    work = installed[1]
    done = run(installed, "report", "--reference", "paper-mini", "--out", "report")
    assert done.returncode == 0, done.stderr
    runs = pd.read_csv(work / "report" / "tables" / "runs.csv")
    assert len(runs) == 288 and (runs["state"] == "done").all()
    assert (work / "report" / "figures" / "accuracy_vs_frames.png").stat().st_size > 10_000


@pytest.mark.slow
def test_a_shipped_cluster_profile_by_name(installed):
    done = python(installed, "from benchmark.launch import load_profile; print(load_profile('gpu-cluster').gpus_per_node)")
    assert done.returncode == 0 and int(done.stdout) >= 1, done.stderr


@pytest.mark.slow
def test_a_reduced_quickstart_from_the_wheel(installed):
    """The wheel's quickstart end to end (data, the local executor's jobs importing the wheel, the
    report) on its shipped experiment, found by name in the wheel, cut to TSN on the test-only
    network (tests/test_quickstart.py trains the shipped experiment as it is, once)."""
    target, work, _ = installed
    # the shipped experiment a plain `stbench quickstart` takes, found by name in the wheel
    done = python(installed, "from benchmark.package_data import find_yaml; "
                             "print(find_yaml('quickstart', 'experiments'))")
    assert done.returncode == 0, done.stderr
    shipped = Path(done.stdout.strip())
    assert shipped.is_relative_to(target) and shipped.name == "quickstart.yaml"
    experiment = tiny_quickstart(work, shipped)
    done = run(installed, "quickstart", "--out", "qs", "--experiment", str(experiment), *TINY_DATA)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "The paper's findings" in done.stdout
    results = sorted((work / "qs" / "runs").glob("*/*/result.json"))
    assert len(results) == 2  # TSN on the 2 synthetic datasets
    for path in results:  # trained by the wheel's code in the local executor's jobs (no git checkout there)
        record = json.loads(path.read_text())
        assert record["code_version"]["package"] and record["code_version"]["git_commit"] is None
    assert (work / "qs" / "report" / "index.html").is_file()
