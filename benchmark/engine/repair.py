"""``stbench repair RUN_DIR``: report what is damaged in a run directory and fix what can be fixed.

Nothing that holds results is ever deleted: a damaged file is set aside as ``NAME.damaged`` (the
next ``train --resume auto`` / ``launch`` redoes what it stood for), a torn ``metrics.jsonl`` is
rewritten from its readable lines (the original is kept as ``metrics.jsonl.damaged``). Only the
temporaries of a killed writer are removed. A run whose claim holder is alive, or may be, is only
reported: its writer owns the files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from benchmark.engine import atomic_io, metrics_jsonl, run_layout, run_reader, tolerant_read
from benchmark.engine.checkpoint import (
    DAMAGED_SUFFIX,
    checkpoint_path,
    load_checkpoint,
    load_resumable,
    save_checkpoint,
)
from benchmark.engine.liveness import process_alive
from benchmark.errors import ModelError, StbenchError

REEVALUATE = "the next launch (or train --resume auto) re-evaluates it from its checkpoint"


@dataclass
class Finding:
    """One problem: the file, what is wrong, and what was done (or would be, with ``--dry-run``)."""

    file: str
    problem: str
    action: str
    fixed: bool  # False: reported only (or nothing to do)

    def line(self, dry_run: bool) -> str:
        verb = "would fix" if dry_run and self.fixed else ("fixed" if self.fixed else "left")
        return f"{self.file}: {self.problem} -> {verb}: {self.action}"


class _Repair:
    def __init__(self, run_dir: Path, dry_run: bool):
        self.d, self.dry_run = run_dir, dry_run
        self.findings: list[Finding] = []

    def note(self, file: str, problem: str, action: str, fixed: bool = False) -> bool:
        """Record a finding; True when the fix should be applied now (not a dry run)."""
        self.findings.append(Finding(file, problem, action, fixed))
        return fixed and not self.dry_run

    def set_aside(self, path: Path) -> Path:
        target = path.with_name(path.name + DAMAGED_SUFFIX)
        os.replace(path, target)
        return target

    # -- the checks ----------------------------------------------------------------------------
    def claim(self) -> bool:
        """False when a live (or undecidable) owner holds the run: then nothing may be changed."""
        try:
            from benchmark.engine import claim as claims
        except ImportError:  # claims not available in this installation
            return True
        try:
            held = claims.read_claim(self.d)
        except StbenchError as exc:
            self.note(claims.CLAIM, str(exc), "nothing changed: cannot tell who owns the run")
            return False
        if held is None:
            return self._writer_gone()
        alive = claims.alive(held)
        who = claims.describe(held)
        if alive is False:
            self.note(claims.CLAIM, f"held by {who}, which is gone",
                      "the next launch takes the claim over (repair leaves claims to it)")
            return True
        state = "alive" if alive else "perhaps alive (another host or job)"
        self.note(claims.CLAIM, f"held by {who}, {state}", "nothing changed while it may be writing")
        return False

    def _writer_gone(self) -> bool:
        """Without a claim: False when ``state.json`` names a running process of this host that lives."""
        state, _ = tolerant_read.read_json_object(self.d / run_layout.STATE)
        state = state or {}
        pid = state.get("pid")
        if state.get("state") != run_layout.RUNNING or pid == os.getpid() \
                or not process_alive(state.get("host"), pid):
            return True
        self.note(run_layout.STATE, f"running in process {pid} on this host", "nothing changed while it may be writing")
        return False

    def temporaries(self) -> None:
        for tmp in run_layout.stale_temporaries(self.d):
            name = str(tmp.relative_to(self.d))
            if self.note(name, "temporary left by a killed writer", "removed", fixed=True):
                tmp.unlink(missing_ok=True)

    def metrics(self) -> None:
        path = self.d / run_layout.METRICS
        lines, problems = metrics_jsonl.read_metrics_checked(self.d)
        torn = path.is_file() and not problems and path.stat().st_size and not path.read_bytes().endswith(b"\n")
        if not problems and not torn:
            return
        problem = "; ".join(problems) or "torn last line (a kill while appending)"
        if path.is_dir():
            if self.note(run_layout.METRICS, problem, f"set aside as {run_layout.METRICS}{DAMAGED_SUFFIX}", fixed=True):
                self.set_aside(path)
            return
        action = f"rewritten from its {len(lines)} readable line(s), original kept as {run_layout.METRICS}.damaged"
        if self.note(run_layout.METRICS, problem, action, fixed=True):
            original = path.read_bytes()
            atomic_io.write_bytes_atomic(path.with_name(run_layout.METRICS + DAMAGED_SUFFIX), original)
            atomic_io.write_bytes_atomic(path, "".join(atomic_io.dumps(m) + "\n" for m in lines).encode())

    def checkpoints(self) -> None:
        last, prev, best = (checkpoint_path(self.d, w) for w in ("last", "previous", "best"))
        good = {}
        for path in (last, prev):
            if not os.path.lexists(path):
                continue
            try:
                good[path] = load_resumable(path)
            except ModelError as exc:
                fallback = prev if path == last and os.path.lexists(prev) else None
                action = (f"set aside as {path.name}{DAMAGED_SUFFIX}"
                          + (f"; resume falls back to {fallback.name}" if fallback else
                             "; the run resumes from an older checkpoint or starts again"))
                if self.note(f"checkpoints/{path.name}", str(exc).split(": ", 1)[-1], action, fixed=True):
                    self.set_aside(path)
        self._best(best, good.get(last))

    def _best(self, best: Path, last: dict | None) -> None:
        """A damaged ``best.pt`` is rebuilt from ``last.pt`` when the best epoch is the last one."""
        if not os.path.lexists(best):
            return
        try:
            load_checkpoint(best)
            return
        except ModelError as exc:
            problem = str(exc).split(": ", 1)[-1]
        state = (last or {}).get("state") or {}
        if state.get("best_epoch") is not None and state.get("best_epoch") == state.get("epoch"):
            action = f"rebuilt from last.pt (epoch {state['epoch']} is the best), original kept as best.pt.damaged"
            if self.note("checkpoints/best.pt", problem, action, fixed=True):
                self.set_aside(best)
                save_checkpoint(best, {"model": last["model"], "epoch": state["epoch"],
                                       "top1": state.get("best_top1"), "model_name": last.get("model_name")})
            return
        self.note("checkpoints/best.pt", problem,
                  "cannot be rebuilt (the best epoch is not the last one): retrain with --resume never")

    def result(self) -> None:
        """An unusable ``result.json`` (or a done state without one) is marked for re-evaluation."""
        files = run_reader.read_run(self.d)
        if files.state != run_layout.DAMAGED:
            return
        path = self.d / run_layout.RESULT
        damage = files.reason.split("; not done", 1)[0]
        file = run_layout.RESULT if os.path.lexists(path) else run_layout.STATE
        kept = f", original kept as {run_layout.RESULT}{DAMAGED_SUFFIX}" if file == run_layout.RESULT else ""
        if self.note(file, damage, f"marked for re-evaluation{kept}: {REEVALUATE}", fixed=True):
            if file == run_layout.RESULT:
                self.set_aside(path)
            run_layout.write_state(self.d, run_layout.PENDING, epoch=files.epoch or 0,
                               reason=f"repaired: {damage}; {REEVALUATE}")

    def state(self) -> None:
        """An unreadable ``state.json`` of an unfinished run: set aside, the run is pending."""
        state, why = tolerant_read.read_json_object(self.d / run_layout.STATE)
        if why is None and (state is None or state.get("state") in run_layout.STATES):
            return
        if run_reader.read_result(self.d)[0] is not None:
            problem = why or f"{run_layout.STATE}: no valid state"
            if self.note(run_layout.STATE, problem, "rewritten as done (result.json is complete)", fixed=True):
                self._replace_state(run_layout.DONE, None)
            return
        problem = why or f"{run_layout.STATE}: no valid state"
        if self.note(run_layout.STATE, problem, "set aside; the run is pending and resumes from its checkpoint",
                     fixed=True):
            self._replace_state(run_layout.PENDING, f"repaired: {problem}")

    def _replace_state(self, state: str, reason: str | None) -> None:
        path = self.d / run_layout.STATE
        if os.path.lexists(path):
            self.set_aside(path)
        last = checkpoint_path(self.d)
        epoch = 0
        if last.is_file():
            try:
                epoch = int(load_resumable(last)["state"].get("epoch", 0))
            except (ModelError, TypeError, ValueError):
                epoch = 0
        run_layout.write_state(self.d, state, reason=reason, epoch=epoch)

    def others(self) -> None:
        """Files only reported: the config (rewritten by the next train), predictions, the launch record."""
        why = tolerant_read.read_config(self.d)[1]
        if why:
            self.note(run_layout.CONFIG, why.split(": ", 1)[-1], "the next train --resume auto rewrites it")
        for problem in run_reader.read_run(self.d).problems:
            name = problem.split(":", 1)[0]
            if name == run_layout.PREDICTIONS:
                self.note(name, problem.split(": ", 1)[-1], "recreate it with 'stbench test RUN_DIR'")
            elif name == run_layout.LAUNCH:
                self.note(name, problem.split(": ", 1)[-1],
                          "left for launch (status cannot see the run's jobs; check them before relaunching)")


def repair(run_dir: str | Path, *, dry_run: bool = False) -> list[Finding]:
    """Every problem found in ``run_dir`` and what was done about it (``dry_run``: nothing is changed)."""
    d = Path(run_dir)
    if not d.is_dir() or not any(os.path.lexists(d / name) for name in (*run_layout.RUN_FILES, run_layout.CHECKPOINTS)):
        raise StbenchError(f"{d}: not a run directory (no {', '.join(run_layout.RUN_FILES)})")
    r = _Repair(d, dry_run)
    if not r.claim():
        return r.findings
    r.temporaries()
    r.metrics()
    r.checkpoints()
    r.result()
    r.state()
    r.others()
    return r.findings
