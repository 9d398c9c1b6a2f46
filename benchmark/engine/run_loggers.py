"""Live loggers of a run (TensorBoard built in; W&B, MLflow, ... one file each): the run config's
``loggers: [tensorboard]`` names them.

A logger is a class registered with :func:`register_logger`; the engine calls it on the main
process only, with values it has already read back from the device at its log interval (a logger
never causes a host sync). Built-ins live in ``benchmark/engine/loggers/``; a user's in any module
named in ``STBENCH_PLUGINS``.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

from benchmark.errors import ConfigError
from benchmark.plugins import Registry


class RunLogger:
    """Receives a run's numbers as they are made. ``resume_step``: the global step the run resumes
    from (0 for a new run); a logger drops what it had recorded after it, so a resumed run's curves
    have no duplicated steps."""

    name = ""

    def __init__(self, run_dir: Path, config: dict[str, Any], resume_step: int = 0) -> None:
        self.run_dir = run_dir

    def log_step(self, step: int, values: dict[str, float]) -> None:
        """Training values at a global step (loss, lr, clips_per_s)."""

    def log_epoch(self, epoch: int, values: dict[str, float]) -> None:
        """Per-epoch values (train/val loss, top-1, top-5, memory)."""

    def finish(self, config: dict[str, Any], result: dict[str, Any]) -> None:
        """The run's config and final metrics (hparams)."""

    def close(self) -> None:
        """Flush and release files; called once, also when the run fails or is pre-empted."""


def flat_config(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as ``a.b`` keys with scalar values (trackers' hyper-parameters are flat:
    TensorBoard's hparams, MLflow's params, W&B's config); other values as their text."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_config(value, f"{name}."))
        elif isinstance(value, (bool, numbers.Number, str)):
            out[name] = value
        elif value is not None:
            out[name] = str(value)
    return out


LOGGERS: Registry[type[RunLogger]] = Registry("logger", ("benchmark.engine.loggers",), ConfigError)


def register_logger(name: str):
    def decorator(cls: type[RunLogger]) -> type[RunLogger]:
        cls.name = name
        LOGGERS.add(name, cls)
        return cls

    return decorator


def check_logger_names(names: list[str], where: str) -> None:
    for name in names:
        LOGGERS.get(name, where)


class RunLoggers:
    """The run's loggers together (none: every call does nothing)."""

    def __init__(self, loggers: list[RunLogger]) -> None:
        self.loggers = loggers

    @classmethod
    def open(cls, names: list[str], run_dir: Path, config: dict[str, Any], resume_step: int,
             is_main: bool) -> RunLoggers:
        if not is_main:
            return cls([])
        return cls([LOGGERS.get(n, "loggers")(run_dir, config, resume_step) for n in names])

    def log_step(self, step: int, values: dict[str, float]) -> None:
        for logger in self.loggers:
            logger.log_step(step, values)

    def log_epoch(self, epoch: int, values: dict[str, float]) -> None:
        for logger in self.loggers:
            logger.log_epoch(epoch, values)

    def finish(self, config: dict[str, Any], result: dict[str, Any]) -> None:
        for logger in self.loggers:
            logger.finish(config, result)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()
