"""``loggers: [wandb]``: a run's numbers to Weights & Biases (optional extra: ``pip install
'stbench[wandb]'``), offline by default: compute nodes usually have no internet. The run's files go
to ``RUN_DIR/wandb/``; upload them from the login node with ``wandb sync RUN_DIR/wandb/offline-run-*``.
``WANDB_MODE=online`` (and ``WANDB_API_KEY``) logs live where nodes can reach W&B; ``WANDB_PROJECT``
names the project (default ``stbench``).

The W&B run id comes from the run directory, so a pre-empted and resumed run continues its own run
(``resume="allow"``). Steps and epochs are two x-axes (``global_step`` and ``epoch``).
"""

from __future__ import annotations

import hashlib
import numbers
import os
from pathlib import Path
from typing import Any

from benchmark.engine.run_loggers import RunLogger, flat_config, register_logger
from benchmark.errors import ConfigError

FOLDER = "wandb"


def run_id_of(run_dir: Path) -> str:
    return hashlib.sha1(str(Path(run_dir).absolute()).encode()).hexdigest()[:16]


@register_logger("wandb")
class WandbLogger(RunLogger):
    def __init__(self, run_dir: Path, config: dict[str, Any], resume_step: int = 0) -> None:
        super().__init__(run_dir, config, resume_step)
        try:
            import wandb
        except ImportError as exc:
            raise ConfigError("loggers: wandb needs the wandb package (pip install 'stbench[wandb]')") from exc
        folder = Path(run_dir) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        settings = wandb.Settings(silent=True, console="off", x_disable_stats=True)
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "stbench"), dir=str(run_dir),
                              id=run_id_of(run_dir), name=str(config.get("run_id") or Path(run_dir).name),
                              mode=os.environ.get("WANDB_MODE", "offline"), resume="allow",
                              config=flat_config(config), settings=settings, reinit="create_new")
        self.run.define_metric("global_step")
        self.run.define_metric("step/*", step_metric="global_step")
        self.run.define_metric("epoch")
        self.run.define_metric("epoch/*", step_metric="epoch")

    @staticmethod
    def _numbers(prefix: str, values: dict[str, Any]) -> dict[str, float]:
        return {f"{prefix}/{k}": float(v) for k, v in values.items()
                if isinstance(v, numbers.Number) and not isinstance(v, bool)}

    def log_step(self, step: int, values: dict[str, float]) -> None:
        self.run.log({**self._numbers("step", values), "global_step": step})

    def log_epoch(self, epoch: int, values: dict[str, float]) -> None:
        self.run.log({**self._numbers("epoch", values), "epoch": epoch})

    def finish(self, config: dict[str, Any], result: dict[str, Any]) -> None:
        self.run.summary.update(self._numbers("final", {k: result.get(k) for k in (
            "top1", "top5", "video_top1", "mean_class_top1", "params", "macs_conv")}))

    def close(self) -> None:
        self.run.finish()
