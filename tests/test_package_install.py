"""A normal (non-editable) install works away from the checkout: the reference results, the shipped
experiments and the cluster profiles come from the package itself.

The wheel is installed without dependencies into a virtual environment that sees this interpreter's
packages (torch etc.); the test checks that ``benchmark`` is then imported from the wheel, not the
checkout, before it runs the commands.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(base / "dist"), str(REPO)], check=True, capture_output=True, timeout=300)
    wheel = next((base / "dist").glob("stbench-*.whl"))
    env_dir = base / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    work = base / "elsewhere"  # not the checkout: nothing may be found relative to the current folder
    work.mkdir()
    return python, work


def run(installed, *args, timeout=600):
    python, work = installed
    return subprocess.run([str(python), "-m", "benchmark", *args], cwd=work, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow
def test_the_wheel_is_what_runs(installed):
    python, work = installed
    where = subprocess.run([str(python), "-c", "import benchmark; print(benchmark.__file__)"], cwd=work,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(python.parents[1]), where


@pytest.mark.slow
def test_plan_a_shipped_experiment_by_name(installed):
    done = run(installed, "plan", "paper_mini_grid", "--format", "json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert (plan["runs"], plan["dependencies"]) == (288, 216)


@pytest.mark.slow
def test_report_from_the_shipped_reference(installed):
    _, work = installed
    done = run(installed, "report", "--reference", "paper-mini", "--out", "report")
    assert done.returncode == 0, done.stderr
    runs = pd.read_csv(work / "report" / "tables" / "runs.csv")
    assert len(runs) == 288 and (runs["state"] == "done").all()
    assert (work / "report" / "figures" / "accuracy_vs_frames.png").stat().st_size > 10_000


@pytest.mark.slow
def test_a_shipped_cluster_profile_by_name(installed):
    python, work = installed
    code = "from benchmark.launch import load_profile; print(load_profile('gpu-cluster').gpus_per_node)"
    done = subprocess.run([str(python), "-c", code], cwd=work, capture_output=True, text=True)
    assert done.returncode == 0 and int(done.stdout) >= 1, done.stderr


@pytest.mark.slow
def test_a_reduced_quickstart_from_the_wheel(installed):
    _, work = installed
    done = run(installed, "quickstart", "--out", "qs", "--train-clips", "24", "--val-clips", "8", "--epochs", "1",
               "--no-progress")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "The paper's findings" in done.stdout
    results = sorted((work / "qs" / "runs").glob("*/*/result.json"))
    assert len(results) == 10  # 5 models x 2 synthetic datasets, as the shipped quickstart experiment plans
    assert (work / "qs" / "report" / "index.html").is_file()
