"""``stbench quickstart``: the whole suite end to end on a CPU, through the same paths users take.

synthetic data (``benchmark.data.synthetic``) → the grid of ``experiments/quickstart.yaml``
(``benchmark.grid``) → the local executor (``benchmark.launch``, which trains with
``benchmark.engine``) → ``benchmark.analysis`` (collect, Φ/Ψ, report). Nothing here trains or
measures by itself; it only wires the layers together and checks the paper's qualitative findings.
Re-running reuses the data and finished runs; ``fresh`` starts over.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark.strict_config import load_yaml
from benchmark.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
DEFAULT_EXPERIMENT = REPO / "experiments" / "quickstart.yaml"
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


@dataclass
class Finding:
    claim: str
    value: str
    holds: bool | None  # None: not measurable from these runs


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


def findings(summary: pd.DataFrame, table: pd.DataFrame) -> list[Finding]:
    """The paper's qualitative findings, checked on the synthetic datasets' results."""
    from benchmark.analysis.collect import done_runs

    done = done_runs(table)

    def top1(dataset: str, module: str, tp: bool) -> float | None:
        rows = done[(done["dataset"] == dataset) & (done["module"] == module) & (done["tp"].astype(bool) == tp)]
        return float(rows["top1"].mean()) if len(rows) else None

    def metric(dataset: str, module: str, key: str) -> float | None:
        rows = summary[(summary["dataset"] == dataset) & (summary["module"] == module)]
        value = rows[key].iloc[0] if len(rows) else None
        return None if value is None or pd.isna(value) else float(value)

    out: list[Finding] = []
    chance = 100.0 / 4  # both synthetic sets have 4 classes
    tsn = top1("synthetic-temporal", "TSN", False)
    out.append(Finding(f"TSN is near chance ({chance:.0f}%) on the temporal set",
                       "n/a" if tsn is None else f"top-1 {tsn:.1f}%", None if tsn is None else tsn <= chance + 15))
    for module in ("TAM", "I3D"):
        psi = metric("synthetic-temporal", module, "psi_ta")
        out.append(Finding(f"{module} models time: Ψ ≥ 0.3 on the temporal set",
                           "n/a" if psi is None else f"Ψ = {psi:.2f}", None if psi is None else psi >= 0.3))
    phis = summary[summary["dataset"] == "synthetic-spatial"]["phi"].dropna()
    phis = phis[summary.loc[phis.index, "module"] != "TSN"]
    low = float(phis.min()) if len(phis) else None
    out.append(Finding("appearance suffices on the spatial set: Φ ≥ 0.9 for every module",
                       "n/a" if low is None else f"lowest Φ = {low:.2f}", None if low is None else low >= 0.9))
    tsn_tp = top1("synthetic-temporal", "TSN", True)
    gain = None if tsn is None or tsn_tp is None else tsn_tp - tsn
    out.append(Finding("temporal pooling improves TSN on the temporal set",
                       "n/a" if gain is None else f"{tsn:.1f}% → {tsn_tp:.1f}% ({gain:+.1f})",
                       None if gain is None else gain > 0))
    return out


def summary_text(table: pd.DataFrame, summary: pd.DataFrame, found: list[Finding]) -> str:
    from benchmark.analysis.collect import done_runs

    done = done_runs(table)
    lines = []
    if len(done):
        acc = done.assign(model=[f"{m}{'-tp' if tp else ''}" for m, tp in zip(done["module"], done["tp"].astype(bool))])
        pivot = acc.pivot_table(index="model", columns="dataset", values="top1", aggfunc="mean", sort=False)
        lines += ["Top-1 accuracy (%), ResNet18, 8 frames:", pivot.round(1).to_string(), ""]
    if len(summary):
        cols = summary[["dataset", "module", "phi", "psi_ta", "psi_ta_tp"]].rename(
            columns={"phi": "Φ", "psi_ta": "Ψ^ta", "psi_ta_tp": "Ψ^{ta+tp}"})
        lines += ["Spatial (Φ) and temporal (Ψ) contributions (paper Eq. 1-2):",
                  cols.to_string(index=False, float_format=lambda v: f"{v:.2f}", na_rep="-"), ""]
    lines.append("The paper's findings on the synthetic data:")
    for f in found:
        mark = {True: "yes", False: "NO", None: "n/a"}[f.holds]
        lines.append(f"  [{mark:>3}] {f.claim}: {f.value}")
    return "\n".join(lines)


def run_quickstart(out: str | Path = "results/quickstart", *, experiment: str | Path | None = None,
                   fresh: bool = False, parallel: int = 2, data: QuickstartData | None = None,
                   epochs: int | None = None, progress: bool = True,
                   echo: Callable[[str], None] = print) -> dict:
    """Generate data, launch the grid locally, collect, report. Returns paths, table, findings."""
    from benchmark.analysis.collect import collect_experiment, write_table
    from benchmark.analysis.phi_psi import summarize
    from benchmark.analysis.report import build_report
    from benchmark.launch import launch

    t0 = time.time()
    out = Path(out).resolve()
    experiment = Path(experiment) if experiment else DEFAULT_EXPERIMENT
    if not experiment.is_file():
        raise ConfigError(f"quickstart experiment {experiment} not found (pass --experiment PATH)")
    data = data or QuickstartData()
    settings = {"experiment": str(experiment.resolve()),
                "experiment_sha256": hashlib.sha256(experiment.read_bytes()).hexdigest(),
                "data": dataclasses.asdict(data), "epochs": epochs}
    record = out / SETTINGS_FILE
    if fresh:
        for name in OWNED:  # only what the quickstart writes: --out may name a folder with other things
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    elif record.is_file():
        previous = json.loads(record.read_text())
        if previous != settings:
            changed = sorted(k for k in settings if previous.get(k) != settings[k])
            raise ConfigError(f"{record}: the quickstart in {out} was run with other settings ({', '.join(changed)} "
                              "changed); its finished runs would be reused: pass --fresh to start over")
    out.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(settings, indent=1) + "\n")

    _, names = load_quickstart_experiment(experiment, out)
    echo(f"[1/3] synthetic datasets ({data.train_clips} train + {data.val_clips} val clips each) in {out / 'data'}")
    roots = prepare_data(out, names, data)
    exp, _ = load_quickstart_experiment(experiment, out, roots, epochs)
    runs = exp.runs()
    echo(f"[2/3] training {len(runs)} runs from {experiment.name} with the local executor "
         f"({parallel} at a time); finished runs are reused")
    report = launch(exp, executor="local", parallel=parallel, on_event=_progress_bar(runs, exp, progress, echo))
    echo(f"      {report.summary()}")

    table = collect_experiment(exp)
    write_table(table, out / "results.csv")
    summary = summarize(table)
    written = build_report(table, out / "report", source=f"stbench quickstart ({experiment.name})")
    found = findings(summary, table)
    echo("[3/3] report")
    echo("")
    echo(summary_text(table, summary, found))
    echo("")
    echo(f"Report: {out / 'report' / 'index.html'}  (Markdown: {out / 'report' / 'report.md'})")
    echo(f"Results table: {out / 'results.csv'}   total time {time.time() - t0:.0f} s")
    failed = {**report.failed, **{r: "upstream failed" for r in report.blocked}}
    return {"out": out, "table": table, "summary": summary, "findings": found, "report": written,
            "failed": failed, "seconds": time.time() - t0}


def _progress_bar(runs, exp, enabled: bool, echo: Callable[[str], None]):
    """A tqdm bar over runs (on a terminal), plain lines otherwise."""
    from benchmark.launch.observe import observe

    already = sum(1 for v in observe(exp, runs).values() if v.state == "done")
    total = len(runs)
    if enabled and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, initial=already, unit="run", desc="quickstart", dynamic_ncols=True)
        active: set[str] = set()

        def on_event(event: str, run_id: str, detail: str | None) -> None:
            if event == "started":
                active.add(run_id)
            else:
                active.discard(run_id)
                bar.update(1)
                if event != "done":
                    bar.write(f"{run_id}: {event}{': ' + detail if detail else ''}")
            bar.set_postfix_str(", ".join(sorted(a.split("/")[-1] for a in active)))
            if bar.n >= total:
                bar.close()

        return on_event

    count = [already]

    def on_event(event: str, run_id: str, detail: str | None) -> None:
        if event != "started":
            count[0] += 1
        echo(f"      [{count[0]}/{total}] {run_id}: {event}{': ' + detail if detail else ''}")

    return on_event
