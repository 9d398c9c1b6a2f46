"""The training and evaluation engine: one run of the grid, by the paper's protocol, into a run directory."""

from benchmark.lazy_exports import lazy_getattr

_EXPORTS = {
    "protocol_defaults": "protocol",
    "EvalConfig": "run_config", "OptimConfig": "run_config", "RunConfig": "run_config",
    "ScheduleConfig": "run_config", "load_run_config": "run_config",
    "run_state": "run_reader",
    "validate_metrics_line": "schema", "validate_result": "schema",
    "EXIT_REQUEUE": "signals", "RunPreempted": "signals",
    "RunFailed": "trainer", "evaluate": "trainer", "train": "trainer",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
