"""``loggers: [mlflow]``: a run's numbers, live, to an MLflow tracking *server* (optional extra:
``pip install 'stbench[mlflow]'``). The server is ``MLFLOW_TRACKING_URI`` (e.g.
``http://login-node:5000``), the experiment ``MLFLOW_EXPERIMENT_NAME`` (default ``stbench``).

A SQLite or file store is refused: the jobs of a grid run at once on many nodes and must not write
one file; ``stbench export mlflow RESULTS`` fills such a store from the login node instead. The
MLflow run is found again by its run directory (tag ``stbench.run_dir``), so a pre-empted and resumed
run continues its own curves. Only MLflow's client is used: no process-wide active run is set.
"""

from __future__ import annotations

import numbers
import os
import time
from pathlib import Path
from typing import Any

from benchmark.engine.run_loggers import RunLogger, flat_config, register_logger
from benchmark.errors import ConfigError

RUN_KEY = "stbench.run_dir"
LOCAL_SCHEMES = ("sqlite", "file", "")


def tracking_server() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if not uri or scheme in LOCAL_SCHEMES:
        shown = uri or "unset (MLflow's default: a local store)"
        raise ConfigError(f"loggers: mlflow: MLFLOW_TRACKING_URI is {shown}: the jobs of a grid must not write one "
                          "file at once; point it at a tracking server (mlflow server) or export after the runs "
                          "from one process: stbench export mlflow RESULTS")
    return uri


def experiment_id_of(client, name: str, artifact_location: str | None = None) -> str:
    """The MLflow experiment ``name``, created when missing."""
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found else client.create_experiment(name, artifact_location=artifact_location)


def run_of(client, experiment_id: str, run_dir: Path):
    """The MLflow run of a run directory (its tag ``stbench.run_dir``), or None: how the live logger
    and ``stbench export mlflow`` find a run again instead of making a second one."""
    key = str(Path(run_dir).absolute()).replace("'", "\\'")
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_KEY}` = '{key}'", max_results=1)
    return runs[0] if runs else None


@register_logger("mlflow")
class MlflowLogger(RunLogger):
    def __init__(self, run_dir: Path, config: dict[str, Any], resume_step: int = 0) -> None:
        super().__init__(run_dir, config, resume_step)
        uri = tracking_server()
        try:
            from mlflow.tracking import MlflowClient
        except ImportError as exc:
            raise ConfigError("loggers: mlflow needs the mlflow package (pip install 'stbench[mlflow]')") from exc
        self.client = MlflowClient(tracking_uri=uri)
        experiment_id = experiment_id_of(self.client, os.environ.get("MLFLOW_EXPERIMENT_NAME", "stbench"))
        existing = run_of(self.client, experiment_id, run_dir)
        if existing is not None:
            self.run_id = existing.info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            tags = {RUN_KEY: str(Path(run_dir).absolute()), "stbench.model": str(config.get("model"))}
            self.run_id = self.client.create_run(experiment_id, run_name=str(config.get("model")), tags=tags).info.run_id

    def _log(self, values: dict[str, Any], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for k, v in values.items()
                   if isinstance(v, numbers.Number) and not isinstance(v, bool)]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def log_step(self, step: int, values: dict[str, float]) -> None:
        self._log({f"step_{k}": v for k, v in values.items()}, step)

    def log_epoch(self, epoch: int, values: dict[str, float]) -> None:
        self._log({f"epoch_{k}": v for k, v in values.items()}, epoch)

    def finish(self, config: dict[str, Any], result: dict[str, Any]) -> None:
        from mlflow.entities import Param

        have = self.client.get_run(self.run_id).data.params
        params = [Param(k, str(v)[:6000]) for k, v in flat_config(config).items() if k not in have]
        for i in range(0, len(params), 100):
            self.client.log_batch(self.run_id, params=params[i:i + 100])
        self._log({f"final_{k}": result.get(k) for k in ("top1", "top5", "video_top1", "mean_class_top1")}, 0)
        self.client.set_terminated(self.run_id, status="FINISHED")
