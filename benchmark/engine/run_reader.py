"""The one reader of a run directory (docs/run-directory.md): its state by the documented rules.

``launch`` (status, relaunch, cancel), ``analysis.collect`` and the engine's resume decisions read a
run only through :func:`read_run`, so that every reader tells a run's state by the same rules. It
never crashes on a corrupt file: each one is named in :attr:`RunFiles.problems`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.engine.metrics_jsonl import epoch_of, read_metrics, read_metrics_checked
from benchmark.engine.run_layout import (
    CHECKPOINT_FILES,
    CHECKPOINTS,
    CONFIG,
    DAMAGED,
    DONE,
    LAUNCH,
    METRICS,
    PENDING,
    PREDICTIONS,
    RESULT,
    RUN_FILES,
    RUNNING,
    STATE,
    STATES,
)
from benchmark.engine.tolerant_read import (
    checkpoint_problem,
    predictions_problem,
    read_config,
    read_json_object,
    read_text_checked,
    torn_text,
)

log = logging.getLogger("benchmark.engine")


@dataclass
class RunFiles:
    """What a run directory's files say, read by the documented state rules."""

    state: str  # one of STATES, or DAMAGED
    reason: str | None  # state.json's reason, then every problem (DAMAGED: what is damaged, what happens next)
    epoch: int | None  # finished epochs (None: no file says)
    result: dict | None  # result.json, when the run is done
    problems: list[str] = field(default_factory=list)  # files that exist but cannot be used, named


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _result_problem(result: dict) -> str | None:
    """Why a parsed ``result.json`` cannot stand for a finished run (None: it can)."""
    if "top1" not in result:
        return f"{RESULT}: no 'top1' entry"
    if result["top1"] is not None and not _number(result["top1"]):
        return f"{RESULT}: 'top1' is not a number ({result['top1']!r:.40})"
    return None


def read_result(run_dir: str | Path) -> tuple[dict | None, str | None]:
    """``result.json`` if it records a finished run, else ``(None, why)`` (``(None, None)``: absent)."""
    result, why = read_json_object(Path(run_dir) / RESULT)
    if result is not None:
        why = _result_problem(result)
    return (None, why) if why else (result, None)


def finished_result(run_dir: str | Path) -> dict | None:
    """The result of a done run, else None: what ``train --resume auto`` returns without training."""
    result, _ = read_result(run_dir)
    return result


def config_differs(path: str | Path, text: str) -> bool:
    """Whether the recorded ``config.yaml`` at ``path`` is another run's: a complete YAML mapping
    that differs from ``text``. A damaged one (not UTF-8, not YAML, not a mapping, cut short) is no
    evidence of another run: resume rewrites it, saying so."""
    path = Path(path)
    recorded, why = read_text_checked(path)
    if recorded is None and why is None:
        return False
    why = why or read_config(path.parent)[1] or torn_text(path)
    if why:
        log.warning("%s: %s; rewritten from the config being run", path, why)
        return False
    return recorded != text


def _read_state(run_dir: Path, problems: list[str]) -> tuple[str | None, str | None, int | None]:
    state, why = read_json_object(run_dir / STATE)
    if isinstance(state, dict) and state.get("state") in STATES:
        reason = state.get("reason")
        return state["state"], str(reason) if reason else None, epoch_of(state.get("epoch"))
    if why:
        problems.append(why)
    elif state is not None:
        problems.append(f"{STATE}: no valid state (valid: {', '.join(STATES)})")
    return None, None, None


def _side_problems(run_dir: Path) -> list[str]:
    """Damage in files that do not decide the state (config, metrics lines, predictions, launch
    record, checkpoints), each read only as far as needed to tell."""
    why = read_config(run_dir)[1] or torn_text(run_dir / CONFIG)
    found = [why] if why else []
    found += read_metrics_checked(run_dir)[1]
    for why in (predictions_problem(run_dir / PREDICTIONS), read_json_object(run_dir / LAUNCH)[1]):
        if why:
            found.append(why)
    for name in CHECKPOINT_FILES:
        why = checkpoint_problem(run_dir / CHECKPOINTS / name)
        if why:
            found.append(f"{CHECKPOINTS}/{why}")
    return found


def _missing_epochs(run_dir: Path, epochs: int | None) -> list[str]:
    """``metrics.jsonl`` holds one line per finished epoch: fewer readable lines than the files'
    epoch count mean lost lines (named; the checkpoints still hold the training)."""
    if not epochs or not (run_dir / METRICS).is_file():  # absent: nothing was written to lose
        return []
    have = {m["epoch"] for m in read_metrics(run_dir) if epoch_of(m.get("epoch")) is not None}
    missing = [e for e in range(1, epochs + 1) if e not in have]
    if not missing:
        return []
    return [f"{METRICS}: no line for epoch(s) {', '.join(map(str, missing[:5]))}{' ...' if len(missing) > 5 else ''}"
            f" of {epochs}, damaged"]


def _files(state: str, reason: str | None, epoch: int | None, result: dict | None, problems: list[str]) -> RunFiles:
    """``reason`` carries every problem too, so whoever shows the reason names the damaged files."""
    notes = ([reason] if reason else []) + [p for p in problems if not reason or p not in reason]
    return RunFiles(state, "; ".join(notes) or None, epoch, result, problems)


def read_run(run_dir: str | Path) -> RunFiles:
    """The run's state by the rules of docs/run-directory.md; never raises on any file content.

    A usable ``result.json`` → done. One that exists but is unusable, or ``state.json`` saying
    done without one → damaged (never done: a relaunch re-evaluates it from its checkpoint),
    unless ``state.json`` says running (a writer may be at work). Else ``state.json``'s state;
    neither → pending. Every unusable file is named in ``problems`` and in ``reason``."""
    run_dir = Path(run_dir)
    result, why = read_result(run_dir)
    problems = _side_problems(run_dir)
    if result is not None:
        epochs = epoch_of(result.get("epochs")) or 0
        _read_state(run_dir, problems)  # result.json decides; a damaged state.json is still named
        return _files(DONE, None, epochs, result, problems + _missing_epochs(run_dir, epochs))
    if why:
        problems.insert(0, why)
    state, reason, epoch = _read_state(run_dir, problems)
    problems += _missing_epochs(run_dir, epoch)
    if state != RUNNING and (why or state == DONE):
        damage = why or f"{STATE} says done but {RESULT} is missing"
        return _files(DAMAGED, f"{damage}; not done: a relaunch re-evaluates it from its checkpoint",
                      epoch, None, problems)
    return _files(state or PENDING, reason, epoch, None, problems)


def run_state(run_dir: str | Path) -> dict:
    """:func:`read_run` as ``{"state", "reason", "epoch"}`` (the engine's resume decisions)."""
    files = read_run(run_dir)
    return {"state": files.state, "reason": files.reason, "epoch": files.epoch or 0}


def best_top1(run_dir: str | Path, files: RunFiles | None = None) -> float | None:
    """The final top-1 of a done run, else the best so far from ``metrics.jsonl``."""
    files = files or read_run(run_dir)
    if files.result is not None and files.result.get("top1") is not None:
        return files.result["top1"]
    values = [m["best_top1"] for m in read_metrics(run_dir) if _number(m.get("best_top1"))]
    return max(values) if values else None


def find_run_dirs(folder: str | Path) -> list[Path]:
    """Every run directory below ``folder`` (one holding any of ``RUN_FILES``), sorted. Hidden
    folders are not searched (a tracker's copies of run files, e.g. ``.mlflow-artifacts/``)."""
    found = []
    for root, dirs, files in os.walk(Path(folder)):
        if any(name in files for name in RUN_FILES):
            found.append(Path(root))
            dirs[:] = []  # a run directory's checkpoints/ holds no further runs
        else:
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return sorted(found)
