"""The run directory (docs/run-directory.md): its file names, its states, atomic writes, and the
one tolerant reader of it.

The engine writes the run directory, so the engine layer owns its format; ``launch`` (status,
relaunch, cancel) and ``analysis.collect`` read it only through :func:`read_run`, so that every
reader tells a run's state by the same rules. Readers never see a half-written JSON (every JSON
goes through :func:`write_json_atomic`) and never crash on a corrupt one (it is named in
:attr:`RunFiles.problems`).
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import logging
import os
import shutil
import socket
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmark.engine.schema import validate_metrics_line
from benchmark.errors import StbenchError
from benchmark.models.naming import parse_model_name, split_model_name

log = logging.getLogger("benchmark.engine")

# -- states: one vocabulary ------------------------------------------------------------------------
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
#: What the files say (``state.json``, or ``result.json`` for done): the engine writes these.
STATES = (PENDING, RUNNING, DONE, FAILED)
#: What ``launch``/``status`` add from the job's view: ``planned`` never submitted, ``blocked`` an
#: upstream run failed, ``interrupted`` its job ended mid-run (resumable), ``cancelled``, and
#: ``unknown`` submitted to a scheduler this shell cannot ask.
CANCELLED, INTERRUPTED, BLOCKED, PLANNED, UNKNOWN = "cancelled", "interrupted", "blocked", "planned", "unknown"
#: What the reader concludes when the files contradict themselves: ``result.json`` exists but is
#: unusable, or ``state.json`` says done without one. Never done; a relaunch re-evaluates it.
DAMAGED = "damaged"
RUN_STATES = (DONE, RUNNING, PENDING, FAILED, DAMAGED, CANCELLED, INTERRUPTED, BLOCKED, PLANNED, UNKNOWN)

# -- file names ------------------------------------------------------------------------------------
CONFIG = "config.yaml"
STATE = "state.json"
METRICS = "metrics.jsonl"
RESULT = "result.json"
PREDICTIONS = "predictions.csv"
LOGITS = "predictions.npz"
LOG = "log.txt"
CHECKPOINTS = "checkpoints"
LAUNCH = "launch.json"  # written by launch: the jobs submitted for the run
RUN_FILES = (CONFIG, STATE, RESULT)  # a directory holding any of these is a run directory
CHECKPOINT_FILES = ("last.pt", "last.prev.pt", "best.pt")  # engine.checkpoint's names
_ZIP_TAIL = 22 + 65535  # a zip's end-of-directory record lies within this many last bytes
TMP_SUFFIX = ".tmp"  # atomic writes go through ".NAME.XXXX.tmp" in the same folder
PREDICTIONS_HEADER = "index,video,label,pred,correct1,correct5"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class RunDirWriteError(StbenchError, OSError):
    """A run-directory file could not be written (read-only folder, disk full): names the file."""


def write_error(path: str | Path, exc: OSError) -> RunDirWriteError:
    """One line naming the file and the system's reason (``No space left on device``, ...)."""
    why = exc.strerror or str(exc) or type(exc).__name__
    return RunDirWriteError(f"cannot write {path}: {why}")


def make_dir(path: str | Path) -> Path:
    """``mkdir -p`` whose failure (permission, disk full) is a one-line error naming the folder."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc) from exc
    return path


def _crc(path: Path) -> int:
    """CRC-32 of a file: a read-back check (not a signature), cheap enough for a pre-empted job that
    must checkpoint before SLURM kills it."""
    crc = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            crc = zlib.crc32(block, crc)
    return crc


def write_bytes_atomic(path: str | Path, data: bytes, *, verify: bool = False,
                       keep_previous: str | Path | None = None) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``.

    ``verify``: read the temporary back and compare its checksum before it replaces anything.
    ``keep_previous``: the file being replaced is kept there first (hard link, else a copy), so a
    good previous version survives until the new one is in place. An ``OSError`` is re-raised as
    :class:`RunDirWriteError` naming ``path``; the temporary never outlives a failure.
    """
    path = Path(path)
    make_dir(path.parent)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if verify and _crc(Path(tmp)) != zlib.crc32(data):
            raise OSError(errno.EIO, "written bytes read back differently")
        if keep_previous is not None and path.is_file():
            _keep(path, Path(keep_previous))
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise write_error(path, exc) from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _keep(path: Path, previous: Path) -> None:
    """``previous`` becomes a copy of ``path`` atomically (``path`` itself stays in place)."""
    link = previous.with_name(f".{previous.name}.{os.getpid()}{TMP_SUFFIX}")
    link.unlink(missing_ok=True)
    try:
        os.link(path, link)
    except OSError:  # a filesystem without hard links
        shutil.copyfile(path, link)
    os.replace(link, previous)


def stale_temporaries(run_dir: str | Path) -> list[Path]:
    """Temporaries (``.NAME.*.tmp``) left in the run directory and its checkpoints by a killed writer."""
    run_dir = Path(run_dir)
    found = []
    for folder in (run_dir, run_dir / CHECKPOINTS):
        if folder.is_dir():
            found += [p for p in folder.glob(f".*{TMP_SUFFIX}") if p.is_file()]
    return sorted(found)


def clean_temporaries(run_dir: str | Path) -> list[Path]:
    """Remove :func:`stale_temporaries`; only the run's one writer (its claim holder) may call this."""
    removed = []
    for tmp in stale_temporaries(run_dir):
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(obj: Any) -> str:
    """Strict JSON (NaN/inf are refused: a reader in another language would choke on them)."""
    return json.dumps(obj, default=_json_default, allow_nan=False, sort_keys=False)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: str) -> Any:
    """Strict JSON, as :func:`dumps` writes it (NaN/Infinity are refused here too)."""
    return json.loads(text, parse_constant=_no_constant)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, default=_json_default, allow_nan=False, indent=2) + "\n").encode())


def read_text_checked(path: str | Path) -> tuple[str | None, str | None]:
    """``(text, None)``, or ``(None, why it cannot be read, naming the file)``; missing: ``(None, None)``.

    The one way a run-directory file is read: a directory where a file should be, a permission
    problem or bytes that are not UTF-8 become a reason, never an exception.
    """
    path = Path(path)
    if not os.path.lexists(path):
        return None, None
    if path.is_dir():
        return None, f"{path.name}: is a directory, not a file"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"{path.name}: cannot read ({exc.strerror or exc})"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"{path.name}: not UTF-8 text (byte {exc.start}), damaged"


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def read_json_checked(path: str | Path) -> tuple[Any, str | None]:
    """``(object, None)``, or ``(None, why it could not be read)``; a missing file is ``(None, None)``."""
    text, why = read_text_checked(path)
    if text is None:
        return None, why
    try:
        return loads(text), None
    except (ValueError, RecursionError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not text.strip():
            detail = "empty file"
        return None, f"{Path(path).name}: invalid JSON, probably half-written ({detail})"


def read_json(path: str | Path) -> Any | None:
    """The parsed file, or None if it is missing or unreadable (a reader must not crash)."""
    return read_json_checked(path)[0]


def read_json_object(path: str | Path) -> tuple[dict | None, str | None]:
    """Like :func:`read_json_checked`, and anything but a JSON object is a reason too."""
    data, why = read_json_checked(path)
    if data is not None and not isinstance(data, dict):
        return None, f"{Path(path).name}: not a JSON object (a {_json_type(data)})"
    return data, why


def read_config(run_dir: str | Path) -> tuple[dict, str | None]:
    """``config.yaml`` as a mapping (``{}`` if missing or unreadable) and why it could not be read."""
    text, why = read_text_checked(Path(run_dir) / CONFIG)
    if text is None:
        return {}, why and f"{CONFIG}: unreadable ({why.split(': ', 1)[-1]})"
    try:
        data = yaml.safe_load(text)
    except (ValueError, RecursionError, yaml.YAMLError) as exc:
        return {}, f"{CONFIG}: unreadable ({(str(exc).splitlines() or [type(exc).__name__])[0]})"
    return (data, None) if isinstance(data, dict) else ({}, f"{CONFIG}: not a mapping")


def config_differs(path: str | Path, text: str) -> bool:
    """Whether the recorded ``config.yaml`` at ``path`` is another run's: a complete YAML mapping
    that differs from ``text``. A damaged one (not UTF-8, not YAML, not a mapping, cut short) is no
    evidence of another run: resume rewrites it, saying so."""
    path = Path(path)
    recorded, why = read_text_checked(path)
    if recorded is None and why is None:
        return False
    why = why or read_config(path.parent)[1] or _torn_text(path)
    if why:
        log.warning("%s: %s; rewritten from the config being run", path, why)
        return False
    return recorded != text


def write_state(run_dir: str | Path, state: str, *, reason: str | None = None, epoch: int = 0) -> dict:
    assert state in STATES, state
    record = {
        "state": state,
        "reason": reason,
        "epoch": int(epoch),
        "updated": now_iso(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "job_id": os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_JOB_ID") or None,
    }
    write_json_atomic(Path(run_dir) / STATE, record)
    return record


@dataclass
class RunFiles:
    """What a run directory's files say, read by the documented state rules."""

    state: str  # one of STATES, or DAMAGED
    reason: str | None  # state.json's reason, then every problem (DAMAGED: what is damaged, what happens next)
    epoch: int | None  # finished epochs (None: no file says)
    result: dict | None  # result.json, when the run is done
    problems: list[str] = field(default_factory=list)  # files that exist but cannot be used, named


def _epoch(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


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


def _read_state(run_dir: Path, problems: list[str]) -> tuple[str | None, str | None, int | None]:
    state, why = read_json_object(run_dir / STATE)
    if isinstance(state, dict) and state.get("state") in STATES:
        reason = state.get("reason")
        return state["state"], str(reason) if reason else None, _epoch(state.get("epoch"))
    if why:
        problems.append(why)
    elif state is not None:
        problems.append(f"{STATE}: no valid state (valid: {', '.join(STATES)})")
    return None, None, None


def _torn_text(path: Path) -> str | None:
    """Why a text file the engine always ends with a newline looks cut short; reads only its last
    byte, so a large predictions.csv costs nothing."""
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - 1))
            last = fh.read(1)
    except OSError as exc:
        return f"{path.name}: cannot read ({exc.strerror or exc})"
    return f"{path.name}: no final newline, truncated" if size and last != b"\n" else None


def _predictions_problem(path: Path) -> str | None:
    if not os.path.lexists(path):
        return None
    if path.is_dir():
        return f"{path.name}: is a directory, not a file"
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(PREDICTIONS_HEADER) + 2)
    except OSError as exc:
        return f"{path.name}: cannot read ({exc.strerror or exc})"
    if head.split(b"\n", 1)[0].strip() != PREDICTIONS_HEADER.encode():
        return f"{path.name}: no '{PREDICTIONS_HEADER}' header, damaged"
    return _torn_text(path)


def _side_problems(run_dir: Path) -> list[str]:
    """Damage in files that do not decide the state (config, metrics lines, predictions, launch
    record, checkpoints), each read only as far as needed to tell."""
    why = read_config(run_dir)[1] or _torn_text(run_dir / CONFIG)
    found = [why] if why else []
    found += read_metrics_checked(run_dir)[1]
    for why in (_predictions_problem(run_dir / PREDICTIONS), read_json_object(run_dir / LAUNCH)[1]):
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
    have = {m["epoch"] for m in read_metrics(run_dir) if _epoch(m.get("epoch")) is not None}
    missing = [e for e in range(1, epochs + 1) if e not in have]
    if not missing:
        return []
    return [f"{METRICS}: no line for epoch(s) {', '.join(map(str, missing[:5]))}{' ...' if len(missing) > 5 else ''}"
            f" of {epochs}, damaged"]


def checkpoint_problem(path: str | Path) -> str | None:
    """Why a checkpoint is visibly damaged, from its ends only (torch's zip format: a local header
    first, the end-of-directory record last); a checkpoint damaged inside shows only on loading."""
    path = Path(path)
    if not os.path.lexists(path):
        return None
    if path.is_dir():
        return f"{path.name}: is a directory, not a file"
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(max(0, size - _ZIP_TAIL))
            tail = fh.read()
    except OSError as exc:
        return f"{path.name}: cannot read ({exc.strerror or exc})"
    if size == 0:
        return f"{path.name}: empty file, damaged"
    if head != b"PK\x03\x04":
        return f"{path.name}: not a checkpoint (damaged)"
    if b"PK\x05\x06" not in tail:
        return f"{path.name}: truncated checkpoint (damaged)"
    return None


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
        epochs = _epoch(result.get("epochs")) or 0
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
    """Every run directory below ``folder`` (one holding any of ``RUN_FILES``), sorted."""
    found = []
    for root, dirs, files in os.walk(Path(folder)):
        if any(name in files for name in RUN_FILES):
            found.append(Path(root))
            dirs[:] = []  # a run directory's checkpoints/ holds no further runs
        else:
            dirs.sort()
    return sorted(found)


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


def append_metrics(run_dir: str | Path, line: dict) -> None:
    """Append one epoch's line; the whole line goes in one write so a crash leaves no fragment."""
    validate_metrics_line(line)
    path = Path(run_dir) / METRICS
    try:
        with open(path, "a") as fh:
            fh.write(dumps(line) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise write_error(path, exc) from exc


def read_metrics_checked(run_dir: str | Path) -> tuple[list[dict], list[str]]:
    """Every complete line of ``metrics.jsonl`` (each a JSON object), and what was skipped, named.

    A last line without its newline is torn (a kill mid-append) even if it parses: the trainer
    writes each line with its newline in one write."""
    path = Path(run_dir) / METRICS
    if not os.path.lexists(path):
        return [], []
    if path.is_dir():
        return [], [f"{METRICS}: is a directory, not a file"]
    try:
        raw = path.read_bytes().split(b"\n")
    except OSError as exc:
        return [], [f"{METRICS}: cannot read ({exc.strerror or exc})"]
    out, bad = [], []
    last = max((i for i, line in enumerate(raw) if line.strip()), default=-1)
    for i, line in enumerate(raw):
        if not line.strip():
            continue
        try:
            value = loads(line.decode("utf-8"))
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            value = None
        if isinstance(value, dict) and not (i == last and raw[-1].strip()):
            out.append(value)
        else:  # unreadable, or the last line without its newline: torn by a kill while appending
            bad.append(i + 1)
    problems = [f"{METRICS}: {len(bad)} unreadable or torn line(s) skipped (line "
                f"{', '.join(map(str, bad[:5]))})"] if bad else []
    return out, problems


def read_metrics(run_dir: str | Path) -> list[dict]:
    """Every complete line of ``metrics.jsonl`` (a torn last line and damaged lines are skipped)."""
    return read_metrics_checked(run_dir)[0]


def truncate_metrics(run_dir: str | Path, epochs: int) -> None:
    """Keep the lines of epochs ``<= epochs``: a resumed run rewrites the epochs after its checkpoint.

    Damaged lines go too: the file is rewritten from the lines that can be read."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return
    kept = [m for m in read_metrics(run_dir) if _epoch(m.get("epoch")) is not None and m["epoch"] <= epochs]
    write_bytes_atomic(path, "".join(dumps(m) + "\n" for m in kept).encode())
