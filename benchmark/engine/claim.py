"""The claim of a run directory (``claim.json``): who may start or train the run right now.

Several launches (shells, nodes on a shared filesystem) and jobs may reach one run directory at the
same time; only the claim's holder starts or trains it. A claim is created whole and exclusively
(a complete temporary file hard-linked to ``claim.json``: ``link`` fails if the name exists, also
on NFS), names its owner (host, PID and process start time, launch id, SLURM job) and carries a
fresh random ``token``. Rules (docs/run-directory.md):

- a claim naming a job (executor, job id) lives as long as that job (the ``judge`` asks its
  executor), not as its launch's process; one without a job lives with its process;
- a live owner's claim is never taken; one whose liveness cannot be told (another host, no judge
  of its job) is left alone and reported; an unreadable one is garbage once a minute old;
- a dead owner's claim is taken over through a marker named after its token, created exclusively,
  so of several takers exactly one wins (a taker that died holding the marker is itself taken over
  the same way);
- a holder of the claim's ``grant`` (the token a launch gave the job it submitted) takes it over
  from the launch by the same marker, so a handover and a takeover never both win;
- the owner releases it (removes it if its token is still there) when done, success or failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from benchmark.engine.atomic_io import create_exclusive, write_bytes_atomic
from benchmark.engine.liveness import process_alive, process_start
from benchmark.engine.run_layout import now_iso
from benchmark.errors import StbenchError

CLAIM = "claim.json"
#: The claim's temporaries: not ``.tmp``, which the run's writer removes while other launches may claim.
TEMP_SUFFIX = ".new"
#: An unreadable claim older than this is dead (garbage); a younger one may be being written.
CORRUPT_AFTER_S = 60.0

#: ``judge(claim) -> True (alive) | False (gone) | None (cannot tell)`` for the job a claim names.
Judge = Callable[[dict], "bool | None"]


class ClaimError(StbenchError):
    """The run directory is claimed by a live (or undecidable) owner, or cannot be claimed at all."""

    def __init__(self, message: str, owner: dict | None = None):
        super().__init__(message)
        self.owner = owner


def owner(holder: str, **fields) -> dict:
    """A new claim record for this process: ``holder`` is ``launch``, ``job`` or ``train``;
    ``fields``: ``launch_id``, ``executor``, ``job_id``, ``grant``."""
    pid = os.getpid()
    return {"token": uuid.uuid4().hex, "holder": holder, "host": socket.gethostname(), "pid": pid,
            "proc_start": process_start(pid), "launch_id": None, "executor": None, "job_id": None,
            "grant": None, **fields, "time": now_iso()}


def describe(claim: dict) -> str:
    """``launch 3f2a / pid 123 on host node1`` (what a refused launch reports)."""
    if claim.get("corrupt"):
        return "an unreadable claim"
    who = claim.get("holder") or "owner"
    if who == "launch" and claim.get("launch_id"):
        who = f"launch {claim['launch_id']}"
    elif who == "job" and claim.get("job_id"):
        who = f"job {claim['job_id']} ({claim.get('executor')})"
    elif who == "job" and claim.get("launch_id"):
        who = f"job of launch {claim['launch_id']}"
    return f"{who} / pid {claim.get('pid')} on host {claim.get('host')}"


def _is_me(claim: dict) -> bool:
    pid = os.getpid()
    return (claim.get("host"), claim.get("pid"), claim.get("proc_start")) == (
        socket.gethostname(), pid, process_start(pid))


def alive(claim: dict, judge: Judge | None = None) -> bool | None:
    """True: alive; False: provably gone; None: cannot tell (left alone).

    A claim naming a job (``executor`` and ``job_id``) lives as long as that job (``judge``): a
    launch that is still running does not keep its cancelled or failed job's claim alive. A claim
    without a job, or one whose job nobody can judge here, lives with its process (this host)."""
    if claim.get("corrupt"):  # one being written right now (no-link fallback) is not taken
        return False if claim.get("age", 0) > CORRUPT_AFTER_S else None
    names_job = bool(claim.get("job_id") and claim.get("executor"))
    if judge is not None and names_job:
        job = judge(claim)
        if job is not None:
            return job
    proc = process_alive(claim.get("host"), claim.get("pid"), claim.get("proc_start"))
    if proc:
        return True
    return False if proc is False and not names_job else None  # its job may still run somewhere


def read_claim(run_dir: str | Path) -> dict | None:
    return _read(Path(run_dir) / CLAIM)


def _read(path: Path) -> dict | None:
    """The claim in ``path``; None if absent; an unreadable one as a dead ``corrupt`` claim."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ClaimError(f"cannot read the claim {path}: {exc.strerror or exc}") from exc
    try:
        claim = json.loads(data.decode())
        if isinstance(claim, dict) and isinstance(claim.get("token"), str):
            return claim
    except (UnicodeDecodeError, ValueError):
        pass
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        age = 0.0
    return {"token": "corrupt-" + hashlib.sha1(data).hexdigest()[:16], "corrupt": True, "age": age}


def _create(path: Path, claim: dict) -> bool:
    """Create ``path`` holding ``claim``, whole, only if it does not exist (link is exclusive)."""
    return create_exclusive(path, json.dumps(claim).encode(), temp_suffix=TEMP_SUFFIX)


def _replace(path: Path, claim: dict) -> None:
    write_bytes_atomic(path, json.dumps(claim).encode(), temp_suffix=TEMP_SUFFIX)


def _take_over(path: Path, old: dict, mine: dict, judge: Judge | None) -> dict | None:
    """Replace ``path`` (holding ``old``) with ``mine``; None when won, else who holds it."""
    marker = path.with_name(f".{path.name}.takeover-{old['token']}")
    if not _create(marker, mine):
        other = _read(marker)
        if other is None:
            return old  # the other taker has just finished: look again
        if alive(other, judge) is not False:
            return other
        blocker = _take_over(marker, other, mine, judge)  # that taker died mid-way
        if blocker is not None:
            return blocker
    try:
        current = _read(path)
        if current is None or current["token"] != old["token"]:
            return current or old
        _replace(path, mine)
        return None
    finally:
        marker.unlink(missing_ok=True)


def acquire(run_dir: str | Path, mine: dict, judge: Judge | None = None) -> dict:
    """Claim ``run_dir`` for ``mine``; returns the claim now held (``mine``, or this process's own
    earlier claim: re-entrant). Raises :class:`ClaimError` naming the owner otherwise."""
    path = Path(run_dir) / CLAIM
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        blocker = None
        for attempt in range(50):
            if _create(path, mine):
                return mine
            current = _read(path)
            if current is None:
                continue  # released meanwhile
            if _is_me(current):
                return current
            granted = mine.get("grant") is not None and mine["grant"] in (current.get("token"), current.get("grant"))
            if granted:
                mine = {**mine, **{k: current.get(k) for k in ("launch_id", "executor", "job_id")
                                   if mine.get(k) is None}}
            else:
                state = alive(current, judge)
                if state is not False:
                    why = "" if state else " (cannot tell whether it is alive; left alone)"
                    raise ClaimError(f"{path.parent}: owned by {describe(current)}{why}", current)
            blocker = _take_over(path, current, mine, judge)
            if blocker is None:
                return mine
            time.sleep(0.01 * (attempt + 1))
    except OSError as exc:
        raise ClaimError(f"cannot claim {path}: {exc.strerror or exc}") from exc
    raise ClaimError(f"{path.parent}: owned by {describe(blocker or {})}", blocker)


def update(run_dir: str | Path, claim: dict, **fields) -> dict:
    """The holder adds fields (e.g. the job id once submitted); refuses a claim no longer its own."""
    path = Path(run_dir) / CLAIM
    current = _read(path)
    if current is None or current["token"] != claim["token"]:
        raise ClaimError(f"{path.parent}: the claim was lost to {describe(current or {})}", current)
    new = {**claim, **fields}
    _replace(path, new)
    return new


def release(run_dir: str | Path, token: str) -> bool:
    """Remove the claim if it still holds ``token``; True when removed."""
    path = Path(run_dir) / CLAIM
    current = _read(path)
    if current is None or current["token"] != token:
        return False
    path.unlink(missing_ok=True)
    return True


@contextlib.contextmanager
def held(run_dir: str | Path, holder: str, *, active: bool = True, judge: Judge | None = None,
         share: Callable[[str | None], str | None] | None = None, **fields) -> Iterator[dict | None]:
    """Hold the claim of ``run_dir`` for the block (released at its end, whatever the outcome);
    a claim this process already holds is kept and left to its taker. ``active=False`` (a DDP
    rank other than 0): no claim; ``share(refusal or None)`` then hands every process rank 0's
    verdict (a broadcast), so that all of them stop when the claim is refused, none waits."""
    claim, refusal, mine = None, None, owner(holder, **fields)
    if active:
        try:
            claim = acquire(run_dir, mine, judge)
        except ClaimError as exc:
            refusal = exc
    verdict = share(None if refusal is None else str(refusal)) if share is not None else None
    if refusal is not None:
        raise refusal
    if verdict is not None:
        raise ClaimError(f"rank 0 could not claim {run_dir}: {verdict}")
    try:
        yield claim
    finally:
        if claim is not None and claim["token"] == mine["token"]:  # not one held before the block
            release(run_dir, claim["token"])
