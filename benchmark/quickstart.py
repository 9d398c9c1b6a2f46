"""``stbench quickstart``: the whole suite end to end on a CPU, through the same paths users take.

synthetic data (``benchmark.data.synthetic``) → the grid of the shipped ``quickstart`` experiment
(``benchmark.grid``) → the local executor (``benchmark.launch``, which trains with
``benchmark.engine``) → ``benchmark.analysis`` (collect, Φ/Ψ, report). Nothing here trains or
measures by itself, and it prints nothing: ``benchmark.cli.quickstart`` shows the progress and checks
the paper's qualitative findings. Re-running reuses the data and finished runs; ``fresh`` starts over.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.errors import ConfigError
from benchmark.package_data import find_yaml
from benchmark.strict_config import load_yaml

DEFAULT_EXPERIMENT = "quickstart"  # benchmark/resources/experiments/quickstart.yaml
KINDS = {"synthetic-temporal": "temporal", "synthetic-spatial": "spatial"}
SETTINGS_FILE = "quickstart.json"  # the settings the runs under runs/ were made with
OWNED = ("data", "runs", "report", "results.csv", SETTINGS_FILE)  # what --fresh deletes


@dataclass
class QuickstartData:
    """Size of the synthetic datasets (the experiment YAML holds everything about training)."""

    train_clips: int = 480
    val_clips: int = 120
    size: int = 32
    frames_per_video: int = 16
    seed: int = 0


def prepare_data(out: Path, datasets: list[str], data: QuickstartData) -> dict[str, Path]:
    """Generate (or reuse) each synthetic dataset under ``out/data``; returns name -> root."""
    from benchmark.data.synthetic import generate

    roots = {}
    for name in datasets:
        if name not in KINDS:
            raise ConfigError(f"quickstart: dataset {name!r} is not synthetic (valid: {', '.join(KINDS)})")
        roots[name] = out / "data" / name
        generate(KINDS[name], roots[name], num_train=data.train_clips, num_val=data.val_clips, size=data.size,
                 frames_per_video=data.frames_per_video, seed=data.seed, formats=("frames",))
    return roots


def load_quickstart_experiment(path: Path, out: Path, roots: dict[str, Path] | None = None,
                               epochs: int | None = None):
    """The experiment YAML with its output and dataset roots moved under ``out``."""
    from benchmark.grid import experiment_from_dict

    spec = copy.deepcopy(load_yaml(path))
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: expected an experiment mapping")
    spec["output"] = str(out / "runs")
    names = []
    datasets = []
    for entry in spec.get("datasets") or []:
        name = entry if isinstance(entry, str) else (entry.get("preset") or entry.get("name"))
        names.append(name)
        mapping = {"preset": entry} if isinstance(entry, str) else dict(entry)
        if roots is not None and name in roots:
            mapping["root"] = str(roots[name])
        datasets.append(mapping)
    spec["datasets"] = datasets
    if epochs is not None:
        spec.setdefault("run", {})["epochs"] = epochs
    return experiment_from_dict(spec, source=str(path), base=Path.cwd()), names


@dataclass
class QuickstartPlan:
    """A prepared quickstart: the data is generated, the grid is planned (nothing trained yet)."""

    out: Path
    experiment: Path
    exp: Any  # benchmark.grid.Experiment
    runs: list
    data: QuickstartData


def prepare_quickstart(out: str | Path = "results/quickstart", *, experiment: str | Path | None = None,
                       fresh: bool = False, data: QuickstartData | None = None,
                       epochs: int | None = None) -> QuickstartPlan:
    """Check the settings against earlier runs in ``out`` (or delete them: ``fresh``), generate the data."""
    out = Path(out).resolve()
    experiment = find_yaml(experiment or DEFAULT_EXPERIMENT, "experiments")
    data = data or QuickstartData()
    settings = {"experiment": str(experiment.resolve()),
                "experiment_sha256": hashlib.sha256(experiment.read_bytes()).hexdigest(),
                "data": dataclasses.asdict(data), "epochs": epochs}
    record = out / SETTINGS_FILE
    if fresh:
        _delete_owned(out)
    elif record.is_file():
        previous = json.loads(record.read_text())
        if previous != settings:
            changed = sorted(k for k in settings if previous.get(k) != settings[k])
            raise ConfigError(f"{record}: the quickstart in {out} was run with other settings ({', '.join(changed)} "
                              "changed); its finished runs would be reused: pass --fresh to start over")
    out.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(settings, indent=1) + "\n")
    _, names = load_quickstart_experiment(experiment, out)
    roots = prepare_data(out, names, data)
    exp, _ = load_quickstart_experiment(experiment, out, roots, epochs)
    return QuickstartPlan(out, experiment, exp, exp.runs(), data)


def _delete_owned(out: Path) -> None:
    for name in OWNED:  # only what the quickstart writes: --out may name a folder with other things
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def train_quickstart(plan: QuickstartPlan, *, parallel: int = 2, on_event: Callable | None = None):
    """Train the planned runs with the local executor (finished runs are reused); the launch report."""
    from benchmark.launch import launch

    return launch(plan.exp, executor="local", parallel=parallel, on_event=on_event)


def analyse_quickstart(plan: QuickstartPlan) -> dict:
    """Collect the runs, compute Φ/Ψ and write the report; returns the table, summary and paths."""
    from benchmark.analysis.collect import collect_experiment, write_table
    from benchmark.analysis.phi_psi import summarize
    from benchmark.analysis.report import build_report

    table = collect_experiment(plan.exp)
    write_table(table, plan.out / "results.csv")
    summary = summarize(table)
    written = build_report(table, plan.out / "report", source=f"stbench quickstart ({plan.experiment.name})")
    return {"out": plan.out, "table": table, "summary": summary, "report": written,
            "results_csv": plan.out / "results.csv"}


def run_quickstart(out: str | Path = "results/quickstart", *, experiment: str | Path | None = None,
                   fresh: bool = False, parallel: int = 2, data: QuickstartData | None = None,
                   epochs: int | None = None, on_event: Callable | None = None) -> dict:
    """Prepare, train and analyse in one call (for notebooks); prints nothing."""
    t0 = time.time()
    plan = prepare_quickstart(out, experiment=experiment, fresh=fresh, data=data, epochs=epochs)
    report = train_quickstart(plan, parallel=parallel, on_event=on_event)
    result = analyse_quickstart(plan)
    failed = {**report.failed, **{r: "upstream failed" for r in report.blocked}}
    return {**result, "launch": report, "failed": failed, "seconds": time.time() - t0}
