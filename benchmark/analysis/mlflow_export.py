"""``stbench export mlflow``: a results folder's (or an experiment's) runs into an MLflow tracking
store, from one process (the login node): params (the resolved config, flattened), per-epoch metrics
with their steps, final metrics, FLOPs/params, measured cost, tags, and the run's files as artifacts.

Idempotent: each run is found again by its tag ``stbench.run_dir`` (the run directory's absolute
path); exporting again adds what is new (epochs since, the result of a run that finished since) and
never makes a second MLflow run. Optional extra: ``pip install 'stbench[mlflow]'``.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.analysis.collect import collect
from benchmark.engine.loggers.mlflow import RUN_KEY, experiment_id_of, run_of
from benchmark.engine.metrics_jsonl import read_metrics
from benchmark.engine.run_loggers import flat_config
from benchmark.engine.run_reader import read_run
from benchmark.engine.tolerant_read import read_config
from benchmark.errors import ConfigError, DataError

EPOCH_KEYS = ("lr", "train_loss", "train_top1", "val_loss", "val_top1", "val_top5", "best_top1", "clips_per_s",
              "epoch_time_s", "samples_skipped")
FINAL_KEYS = ("top1", "top5", "video_top1", "video_top5", "mean_class_top1", "params", "macs_conv", "macs_all",
              "throughput_clips_s", "wall_time_s", "best_epoch")
TAG_KEYS = ("model", "module", "backbone", "frames", "tp", "dataset", "state", "kind", "weights", "train_fingerprint",
            "val_fingerprint", "val_videos", "classes_fingerprint", "protocol_fingerprint")
ARTIFACTS = ("result.json", "config.yaml", "predictions.csv", "metrics.jsonl")
PARAM_VALUE_LIMIT = 6000  # MLflow's longest param value


@dataclass
class ExportReport:
    tracking_uri: str
    experiment: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)


def default_tracking_uri(source: str | Path) -> str:
    """A SQLite store in the results folder (MLflow's own default backend since 3.x)."""
    path = Path(source)
    folder = path if path.is_dir() else _experiment_output(path)
    return f"sqlite:///{(folder / 'mlflow.db').absolute()}"


def _artifacts(uri: str) -> str | None:
    """A SQLite store keeps its artifacts beside it (MLflow's default is ./mlruns in whatever folder
    the command ran from); a server decides for itself."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).parent / ".mlflow-artifacts").absolute().as_uri()
    return None


def _experiment_output(path: Path) -> Path:
    from benchmark.grid import load_experiment

    return Path(load_experiment(path).output)


def _client(tracking_uri: str):
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise ConfigError("export mlflow needs the mlflow package (pip install 'stbench[mlflow]')") from exc
    return MlflowClient(tracking_uri=tracking_uri)


def export_mlflow(source: str | Path, tracking_uri: str | None = None, experiment: str | None = None) -> ExportReport:
    table = collect(source)
    if "run_dir" not in table.columns or table["run_dir"].isna().all():
        raise DataError(f"{source}: no run directories to export (a reference table has none)")
    uri = tracking_uri or default_tracking_uri(source)
    name = experiment or Path(source).stem
    client = _client(uri)
    experiment_id = experiment_id_of(client, name, artifact_location=_artifacts(uri))
    report = ExportReport(uri, name)
    for _, row in table.iterrows():
        run_dir = Path(row["run_dir"])
        if not run_dir.is_dir():
            continue  # planned, never started
        created = _export_run(client, experiment_id, run_dir, row.to_dict())
        (report.created if created else report.updated).append(str(run_dir))
    return report


def _export_run(client, experiment_id: str, run_dir: Path, row: dict) -> bool:
    from mlflow.entities import Metric, Param, RunTag

    key = str(run_dir.absolute())
    existing = run_of(client, experiment_id, run_dir)
    files = read_run(run_dir)
    config, _ = read_config(run_dir)
    tags = {RUN_KEY: key, "mlflow.runName": str(row.get("model") or run_dir.name),
            **{f"stbench.{k}": str(row[k]) for k in TAG_KEYS if _present(row.get(k))}}
    if existing is None:
        run_id = client.create_run(experiment_id, run_name=tags["mlflow.runName"], tags=tags).info.run_id
        have_params: dict[str, str] = {}
        have_steps: dict[str, set[int]] = {}
    else:
        run_id = existing.info.run_id
        have_params = dict(existing.data.params)
        have_steps = {k: {m.step for m in client.get_metric_history(run_id, k)} for k in existing.data.metrics}
    params = [Param(k, _param_text(v)) for k, v in flat_config(config).items() if k not in have_params]
    now = int(time.time() * 1000)
    metrics = [Metric(k, float(m[k]), now, int(m["epoch"])) for m in read_metrics(run_dir) for k in EPOCH_KEYS
               if _number(m.get(k)) and isinstance(m.get("epoch"), int) and m["epoch"] not in have_steps.get(k, ())]
    result = files.result or {}
    metrics += [Metric(f"final_{k}", float(result[k]), now, 0) for k in FINAL_KEYS
                if _number(result.get(k)) and 0 not in have_steps.get(f"final_{k}", ())]
    _log_batches(client, run_id, metrics, params, [RunTag(k, v) for k, v in tags.items()])
    for name in ARTIFACTS:
        if (run_dir / name).is_file():
            client.log_artifact(run_id, str(run_dir / name))  # replaced, not duplicated, on a new export
    status = {"done": "FINISHED", "failed": "FAILED", "damaged": "FAILED", "cancelled": "KILLED"}.get(files.state)
    if status:
        client.set_terminated(run_id, status=status)
    return existing is None


def _log_batches(client, run_id: str, metrics: list, params: list, tags: list) -> None:
    """MLflow takes at most 1000 metrics, 100 params and 100 tags per call."""
    client.log_batch(run_id, tags=tags[:100])
    for i in range(0, len(params), 100):
        client.log_batch(run_id, params=params[i:i + 100])
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i:i + 1000])


def _param_text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= PARAM_VALUE_LIMIT else text[:PARAM_VALUE_LIMIT - 3] + "..."


def _number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool) and math.isfinite(value)


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))
