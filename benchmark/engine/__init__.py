"""The training and evaluation engine: one run of the grid, by the paper's protocol, into a run directory."""

from benchmark.engine.protocol import protocol_defaults
from benchmark.engine.run_config import EvalConfig, OptimConfig, RunConfig, ScheduleConfig, load_run_config
from benchmark.engine.run_reader import run_state
from benchmark.engine.schema import validate_metrics_line, validate_result
from benchmark.engine.signals import EXIT_REQUEUE, RunPreempted
from benchmark.engine.trainer import RunFailed, evaluate, train

__all__ = [
    "EXIT_REQUEUE",
    "EvalConfig",
    "OptimConfig",
    "RunConfig",
    "RunFailed",
    "RunPreempted",
    "ScheduleConfig",
    "evaluate",
    "load_run_config",
    "protocol_defaults",
    "run_state",
    "train",
    "validate_metrics_line",
    "validate_result",
]
