"""Schemas of the run directory's records: ``result.json`` and each line of ``metrics.jsonl``.

Plain Python (no jsonschema dependency): a schema maps each key to the accepted JSON types.
The engine validates what it writes, so a record that does not match is a bug caught at the
source; readers of results (``engine.run_reader.read_run``, hence status and collect) stay tolerant,
and tests and tools that check a record call :func:`validate_result` / :func:`validate_metrics_line`.
"""

from __future__ import annotations

from typing import Any

from benchmark.errors import StbenchError

SCHEMA_VERSION = 1

_NUM = (int, float)
_OPT_NUM = (int, float, type(None))
_OPT_INT = (int, type(None))
_OPT_STR = (str, type(None))

RESULT_SCHEMA: dict[str, tuple] = {
    "schema_version": (int,),
    "run_id": (str,),
    "model": (str,),
    "module": (str,),
    "backbone": _OPT_STR,
    "tp": (bool,),
    "frames": (int,),
    "dataset": _OPT_STR,
    "num_classes": (int,),
    "seed": (int,),
    "top1": _OPT_NUM,  # clip level, %, of the best epoch (null if never evaluated)
    "top5": _OPT_NUM,
    "video_top1": _OPT_NUM,
    "video_top5": _OPT_NUM,
    "mean_class_top1": _OPT_NUM,  # of the final evaluation (video level when it is), unweighted over classes
    "params": _OPT_INT,
    "macs_conv": _OPT_INT,
    "macs_all": _OPT_INT,
    "epochs": (int,),
    "best_epoch": _OPT_INT,
    "wall_time_s": _NUM,
    "samples_skipped": (int,),
    "throughput_clips_s": _OPT_NUM,
    "code_version": (dict,),
    "environment": (dict,),
    "config": (dict,),
    "kind": (str,),  # "train" (a training run) or "test" (published weights evaluated: stbench test --weights)
    "init_weights": (dict, type(None)),  # the stbench weights file the run started from (its identity), or null
    "data": (dict,),  # per split used: videos, fingerprint, malformed; classes_fingerprint (engine/identity.py)
    "protocol": (dict,),  # frames, sampling, test views, crop, resize, pretraining, epochs, batch, lr, schedule, amp
}

CODE_VERSION_SCHEMA = {"package": (str,), "git_commit": _OPT_STR, "git_dirty": (bool, type(None))}

ENVIRONMENT_SCHEMA = {
    "python": (str,),
    "torch": (str,),
    "torchvision": _OPT_STR,
    "av": _OPT_STR,
    "platform": (str,),
    "hostname": (str,),
    "device": (str,),
    "cuda": _OPT_STR,
    "world_size": (int,),
    "temporal_kernels": _OPT_STR,  # what TAM/TSM ran as ("torch"; older: "c", "eager ..."); absent before
    "host_allocator": _OPT_STR,  # CPU runs: the allocator the process ran with; absent in older records
}

METRICS_SCHEMA: dict[str, tuple] = {
    "epoch": (int,),  # 1-based number of the finished epoch
    "lr": _NUM,
    "train_loss": _NUM,
    "train_top1": _NUM,  # %, over the training clips of the epoch (augmented, dropout on)
    "train_clips": (int,),
    "val_loss": _OPT_NUM,  # null on epochs without validation
    "val_top1": _OPT_NUM,
    "val_top5": _OPT_NUM,
    "val_clips": _OPT_INT,
    "best_top1": _OPT_NUM,  # best val_top1 so far
    "samples_skipped": (int,),  # bad samples dropped by the data layer during the epoch
    "epoch_time_s": _NUM,
    "clips_per_s": _NUM,
    "time": (str,),  # ISO-8601 UTC when the epoch finished
}


class SchemaError(StbenchError, ValueError):
    """A record does not match its schema."""


# Keys added after schema version 1: records written before them stay valid.
RESULT_OPTIONAL = ("mean_class_top1", "kind", "init_weights", "data", "protocol")
ENVIRONMENT_OPTIONAL = ("temporal_kernels", "host_allocator")


def _type_names(types: tuple) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def _check(obj: Any, schema: dict[str, tuple], what: str, optional: tuple[str, ...] = ()) -> None:
    if not isinstance(obj, dict):
        raise SchemaError(f"{what}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in schema if k not in obj and k not in optional]
    if missing:
        raise SchemaError(f"{what}: missing key(s): {', '.join(missing)}")
    extra = [k for k in obj if k not in schema]
    if extra:
        raise SchemaError(f"{what}: unknown key(s): {', '.join(extra)} (valid keys: {', '.join(schema)})")
    for key, types in schema.items():
        if key not in obj:
            continue  # an optional key
        value = obj[key]
        # bool is an int in Python but not a number in these records.
        if isinstance(value, bool) and bool not in types:
            ok = False
        else:
            ok = isinstance(value, types)
        if not ok:
            raise SchemaError(f"{what}: '{key}' must be {_type_names(types)}, got {value!r}")


def validate_result(obj: Any, what: str = "result.json") -> dict:
    """Raise :class:`SchemaError` naming the key unless ``obj`` is a valid ``result.json``."""
    _check(obj, RESULT_SCHEMA, what, RESULT_OPTIONAL)
    if obj["schema_version"] != SCHEMA_VERSION:
        raise SchemaError(f"{what}: schema_version {obj['schema_version']} (this reader knows {SCHEMA_VERSION})")
    _check(obj["code_version"], CODE_VERSION_SCHEMA, f"{what}: code_version")
    _check(obj["environment"], ENVIRONMENT_SCHEMA, f"{what}: environment", ENVIRONMENT_OPTIONAL)
    for key in ("top1", "top5", "video_top1", "video_top5", "mean_class_top1"):
        if obj.get(key) is not None and not 0.0 <= obj[key] <= 100.0:
            raise SchemaError(f"{what}: '{key}' must be a percentage in [0, 100], got {obj[key]!r}")
    return obj


def validate_metrics_line(obj: Any, what: str = "metrics.jsonl") -> dict:
    """Raise :class:`SchemaError` naming the key unless ``obj`` is a valid ``metrics.jsonl`` line."""
    _check(obj, METRICS_SCHEMA, what)
    if obj["epoch"] < 1:
        raise SchemaError(f"{what}: 'epoch' must be >= 1, got {obj['epoch']}")
    for key in ("train_top1", "val_top1", "val_top5", "best_top1"):
        if obj[key] is not None and not 0.0 <= obj[key] <= 100.0:
            raise SchemaError(f"{what}: '{key}' must be a percentage in [0, 100], got {obj[key]!r}")
    return obj
