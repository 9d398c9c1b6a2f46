"""TensorBoard event files under ``RUN_DIR/tensorboard/`` (optional extra: ``pip install stbench[tensorboard]``)."""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

from benchmark.engine.run_loggers import RunLogger, flat_config, register_logger
from benchmark.errors import ConfigError

FOLDER = "tensorboard"


@register_logger("tensorboard")
class TensorBoardLogger(RunLogger):
    def __init__(self, run_dir: Path, config: dict[str, Any], resume_step: int = 0) -> None:
        super().__init__(run_dir, config, resume_step)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ConfigError("loggers: tensorboard needs the tensorboard package "
                              "(pip install 'stbench[tensorboard]')") from exc
        # purge_step: events a killed run wrote after its last checkpoint are dropped on resume.
        self.writer = SummaryWriter(str(run_dir / FOLDER), purge_step=resume_step or None)

    def log_step(self, step: int, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(f"step/{key}", value, step)

    def log_epoch(self, epoch: int, values: dict[str, float]) -> None:
        for key, value in values.items():
            if value is not None:
                self.writer.add_scalar(f"epoch/{key}", value, epoch)

    def finish(self, config: dict[str, Any], result: dict[str, Any]) -> None:
        metrics = {f"final/{k}": result[k] for k in ("top1", "top5", "video_top1", "mean_class_top1")
                   if isinstance(result.get(k), numbers.Number)}
        self.writer.add_hparams(flat_config(config), metrics, run_name=".")

    def close(self) -> None:
        self.writer.close()
