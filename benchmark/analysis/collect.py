"""Collect results into one tidy table: one row per run, whatever the source.

A source is a reference name (``paper-mini``), an experiment YAML (its planned runs, finished or not),
a results folder (every run directory below it), or a table written earlier by ``collect``.
Run directories are read by the rules of docs/run-directory.md and a half-written or corrupt file
never stops the collection: it is reported in the row's ``reason``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.analysis.reference import load_mini_grid
from benchmark.engine.run_reader import find_run_dirs, read_run
from benchmark.engine.tolerant_read import read_config
from benchmark.errors import DataError
from benchmark.models.naming import parse_model_name, split_model_name

COLUMNS = [
    "dataset", "module", "backbone", "tp", "frames", "seed", "model", "top1", "top5", "video_top1",
    "video_top5", "params", "macs_conv", "macs_all", "throughput", "epochs", "sampling", "pretrained",
    "model_options", "init_from", "kind", "weights", "weights_sha256", "train_videos", "train_fingerprint",
    "val_videos", "val_fingerprint", "classes_fingerprint", "protocol_fingerprint", "state", "reason", "run_dir",
]
# Run settings the paper's other experiments vary (sampling: Table 3; pretrained: Table 9; model
# options such as tam_placement: Table 6; init_from: Table 4's fine-tuning), read from the config.
REFERENCES = {"paper-mini": "the official 288-run mini grid (results/reference/paper_mini_grid.csv)"}
_RESULT_KEYS = ("dataset", "module", "backbone", "tp", "frames", "seed", "model", "top1", "top5",
                "video_top1", "video_top5", "params", "macs_conv", "macs_all", "epochs")

__all__ = ["COLUMNS", "collect", "done_runs", "find_run_dirs", "read_run_dir", "write_table"]


def _dataset_name(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value.get("name") or value.get("preset")
    return None


def options_label(options: Any) -> str | None:
    """``{"tam_placement": "top-half"}`` -> ``"tam_placement=top-half"`` (sorted; None when empty)."""
    if not isinstance(options, dict) or not options:
        return None
    return ",".join(f"{k}={options[k]}" for k in sorted(options))


def _settings(config: dict) -> dict:
    """The varied run settings of :data:`COLUMNS`, as far as ``config`` records them."""
    row: dict[str, Any] = {}
    data = config.get("dataset")
    if isinstance(data, dict) and isinstance(data.get("sampling"), str):
        row["sampling"] = data["sampling"]
    if "pretrained" in config:
        value = config["pretrained"]
        row["pretrained"] = "none" if value is None else str(value)
    row["model_options"] = options_label(config.get("model_options"))
    if isinstance(config.get("init_from"), str):
        row["init_from"] = config["init_from"]
    return row


def model_identity(name: Any) -> dict | None:
    """``model``/``module``/``backbone``/``tp``/``frames`` of a model name, tolerantly: the registry's
    reading when it knows the name (architectures, plugins), else the naming rule's reading as
    written (a module not registered in this shell); None if ``name`` is not a model name."""
    if not isinstance(name, str):
        return None
    try:
        spec = parse_model_name(name)
        written = spec.name
    except Exception:  # noqa: BLE001 - unknown or unloadable: read it by the naming rule alone
        spec, written = split_model_name(name), name
        if spec is None:
            return None
    return {"model": written, "module": spec.module, "backbone": spec.backbone, "tp": spec.tp,
            "frames": spec.frames}


def _from_config(config: dict) -> dict:
    name = config.get("model")
    row = model_identity(name) or ({"model": name} if isinstance(name, str) else {})
    row["dataset"] = _dataset_name(config.get("dataset"))
    if isinstance(config.get("seed"), int):
        row["seed"] = config["seed"]
    row.update(_settings(config))
    return row


def read_run_dir(run_dir: str | Path, planned_config: dict | None = None) -> dict:
    """One tidy row for a run directory (which may not exist yet: then the run is pending).

    The state is :func:`benchmark.engine.run_reader.read_run`'s (``damaged``: an unusable result.json,
    never counted as done); an unreadable file is named in ``reason`` instead of raising.
    """
    run_dir = Path(run_dir)
    config, _ = read_config(run_dir)  # an unreadable one is named in read_run's reason
    row: dict[str, Any] = {"run_dir": str(run_dir)}
    row.update(_from_config(planned_config or {}))
    row.update({k: v for k, v in _from_config(config).items() if v is not None})
    if not row.get("model"):  # no readable config: the grid names run dirs after the model
        row.update(model_identity(run_dir.name) or {})
    files = read_run(run_dir)
    row["state"] = files.state
    if files.result is not None:
        for key in _RESULT_KEYS:
            # result.json is the final word, including a null backbone (a complete architecture)
            if files.result.get(key) is not None or (key == "backbone" and key in files.result):
                row[key] = files.result[key]
        row["throughput"] = files.result.get("throughput_clips_s")
        row.update(_weights_identity(files.result))
        row.update(_comparison_identity(files.result))
        row["reason"] = files.reason  # None, or a damaged side file (predictions.csv, ...)
        return row
    if files.epoch is not None:
        row["epochs"] = files.epoch
    row["reason"] = files.reason  # the state's reason and every unreadable file, named
    return row


def _weights_identity(result: dict) -> dict:
    """``kind`` (train, or test: published weights evaluated) and the published checkpoint a run
    started from: ``source:file`` and the file's SHA-256 (result.json's ``init_weights``)."""
    row = {"kind": result.get("kind") if isinstance(result.get("kind"), str) else "train"}
    weights = result.get("init_weights")
    if isinstance(weights, dict):
        row["weights"] = f"{weights.get('source')}:{weights.get('source_file')}"
        row["weights_sha256"] = weights.get("source_sha256")
    return row


def _comparison_identity(result: dict) -> dict:
    """The data and protocol fingerprints of result.json (absent in older records)."""
    row: dict[str, Any] = {}
    data = result.get("data") if isinstance(result.get("data"), dict) else {}
    for split in ("train", "val"):
        part = data.get(split)
        if isinstance(part, dict):
            row[f"{split}_videos"], row[f"{split}_fingerprint"] = part.get("videos"), part.get("fingerprint")
    row["classes_fingerprint"] = data.get("classes_fingerprint")
    protocol = result.get("protocol")
    if isinstance(protocol, dict):
        row["protocol_fingerprint"] = protocol.get("fingerprint")
    return row


def _tidy(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("top1", "top5", "video_top1", "video_top5", "throughput"):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
    for col in ("frames", "seed", "params", "macs_conv", "macs_all", "epochs", "train_videos", "val_videos"):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("Int64")
    table["tp"] = table["tp"].astype("boolean")
    for col in ("dataset", "module", "backbone", "model", "sampling", "pretrained", "model_options", "init_from",
                "kind", "weights", "weights_sha256", "train_fingerprint", "val_fingerprint", "classes_fingerprint",
                "protocol_fingerprint", "state", "reason", "run_dir"):
        table[col] = table[col].astype(object).where(table[col].notna(), None)
    return table


def collect_folder(folder: str | Path) -> pd.DataFrame:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a directory")
    return _tidy([read_run_dir(d) for d in find_run_dirs(folder)])


def collect_reference(name: str) -> pd.DataFrame:
    if name != "paper-mini":
        raise DataError(f"unknown reference {name!r} (valid: {', '.join(REFERENCES)})")
    grid = load_mini_grid()
    table = grid.rename(columns={"flops": "macs_conv"})
    table["state"] = "done"
    table["run_dir"] = table["source"]
    # One published grid: each dataset's lists and one protocol (paper Table 12) for every row;
    # named as such, so that compare audits them like runs (and never mixes them with yours).
    for split in ("train", "val"):
        table[f"{split}_fingerprint"] = "paper-mini:" + table["dataset"].astype(str) + f":{split}"
    from benchmark.analysis.paper_data import paper_class_fingerprints

    known = {dataset: fp for dataset, (fp, _) in paper_class_fingerprints().items()}
    table["classes_fingerprint"] = [known.get(d, f"paper-mini:{d}:classes") for d in table["dataset"]]
    table["protocol_fingerprint"] = "paper-mini:table12"
    return _tidy(table.to_dict("records"))


def collect_experiment(path) -> pd.DataFrame:
    """The experiment's planned runs, each read from its run directory (pending if not started).

    ``path`` is an experiment YAML or an already loaded ``benchmark.grid.Experiment``.
    """
    if hasattr(path, "runs"):
        return _collect_planned(path)
    try:  # the grid layer; imported late so analysis works without it
        from benchmark.grid import load_experiment
    except ImportError:
        try:
            from benchmark.grid.spec import load_experiment
        except ImportError as exc:
            raise DataError(f"{path}: experiment sources need the grid layer (benchmark.grid): {exc}") from exc

    return _collect_planned(load_experiment(path))


def _collect_planned(experiment) -> pd.DataFrame:
    rows = []
    for run in experiment.runs():
        row = read_run_dir(run.run_dir, run.config)
        # the experiment's own labels (its dataset names) keep done and unfinished runs in one group
        row.update({k: v for k, v in getattr(run, "cell", {}).items() if k in COLUMNS and v is not None})
        rows.append(row)
    table = _tidy(rows)
    table.attrs["planned"] = True  # every run the experiment wants is a row: the grid is exactly its rows
    return table


def collect_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    try:
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for a bad file
        raise DataError(f"{path}: cannot read a results table ({exc})") from exc
    missing = [c for c in ("dataset", "module", "backbone", "tp", "frames", "top1") if c not in table.columns]
    if missing:
        raise DataError(f"{path}: not a results table, missing column(s) {', '.join(missing)}")
    if "flops" in table.columns and "macs_conv" not in table.columns:
        table = table.rename(columns={"flops": "macs_conv"})
    if "state" not in table.columns:
        table["state"] = "done"
    return _tidy(table.to_dict("records"))


def collect(source: str | Path) -> pd.DataFrame:
    """One tidy row per run (columns ``COLUMNS``) from a reference name, experiment YAML, folder or table."""
    text = str(source)
    if text in REFERENCES:
        return collect_reference(text)
    path = Path(source)
    if path.is_dir():
        return collect_folder(path)
    if path.is_file() and path.suffix in (".yaml", ".yml"):
        return collect_experiment(path)
    if path.is_file() and path.suffix in (".csv", ".parquet"):
        return collect_table(path)
    raise DataError(
        f"{source}: not a results source (give a reference name: {', '.join(REFERENCES)}; an experiment "
        "YAML; a results folder; or a .csv/.parquet table written by 'stbench collect')"
    )


def write_table(table: pd.DataFrame, out: str | Path) -> Path:
    """Write as CSV or parquet, chosen by the file extension."""
    out = Path(out)
    if out.suffix not in (".csv", ".parquet"):
        raise DataError(f"{out}: output must end in .csv or .parquet")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        table.to_parquet(out, index=False)
    else:
        table.to_csv(out, index=False)
    return out


def done_runs(table: pd.DataFrame) -> pd.DataFrame:
    """Finished runs with an accuracy: what metrics and figures are made of."""
    return table[(table["state"] == "done") & table["top1"].notna()]
