"""Progress on the terminal: a bar over a launch's runs, and ``stbench status --watch``.

The numbers come from the library (``benchmark.launch.progress``); only the drawing is here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

BAR_WIDTH = 30


def run_progress(runs, exp, enabled: bool, echo: Callable[[str], None], desc: str = "runs"):
    """``on_event`` for a launch that waits: a tqdm bar over runs on a terminal, plain lines otherwise."""
    from benchmark.launch.observe import observe

    already = sum(1 for v in observe(exp, runs).values() if v.state == "done")
    total = len(runs)
    if enabled and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, initial=already, unit="run", desc=desc, dynamic_ncols=True)
        active: set[str] = set()

        def on_event(event: str, run_id: str, detail: str | None) -> None:
            if event == "started":
                active.add(run_id)
            else:
                active.discard(run_id)
                bar.update(1)
                if event != "done":
                    bar.write(f"{run_id}: {event}{': ' + detail if detail else ''}")
            bar.set_postfix_str(", ".join(sorted(a.split("/")[-1] for a in active)))
            if bar.n >= total:
                bar.close()

        return on_event

    count = [already]

    def on_event(event: str, run_id: str, detail: str | None) -> None:
        if event != "started":
            count[0] += 1
        echo(f"      [{count[0]}/{total}] {run_id}: {event}{': ' + detail if detail else ''}")

    return on_event


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def grid_lines(name: str, progress, views) -> list[str]:
    """The compact view: a bar over the grid's epochs, counts per state, the running and failed runs."""
    from benchmark.engine.run_layout import FAILED, RUNNING

    filled = int(round(BAR_WIDTH * progress.fraction))
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    lines = [f"{name}  [{bar}] {100 * progress.fraction:5.1f}%  epochs {progress.epochs_done}/{progress.epochs_total}"
             f"  ETA {human_seconds(progress.eta_s) if not progress.finished else 'done'}",
             "  " + "  ".join(f"{state} {n}" for state, n in sorted(progress.states.items()))]
    for v in views.values():
        if v.state in (RUNNING, FAILED):
            planned = v.run.config.get("epochs", "?")
            detail = f"epoch {v.epoch}/{planned}" if v.state == RUNNING else (v.reason or "")
            lines.append(f"  {v.state:<8} {v.run_id}  {detail}"[:160])
    return lines


QUIET_S = 3.0  # a launch starts its next run within a second of the last one ending


def watch(exp, interval: float, stream=None) -> int:
    """Redraw until no run has been queued or running for a while (a launch between two runs has
    none active for a moment); on a terminal in place, otherwise one line per refresh."""
    from benchmark.launch import status
    from benchmark.launch.progress import grid_progress

    stream = stream or sys.stdout
    tty = stream.isatty()
    quiet_since = None
    try:
        while True:
            views = status(exp)
            progress = grid_progress(views)
            lines = grid_lines(exp.name, progress, views)
            if tty:
                stream.write("\x1b[H\x1b[2J" + "\n".join(lines) + "\n")
            else:
                stream.write(lines[0] + "  |" + lines[1] + "\n")
            stream.flush()
            if not progress.finished:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            if quiet_since is not None and time.monotonic() - quiet_since >= max(QUIET_S, 2 * interval):
                return 0
            time.sleep(min(interval, QUIET_S) if quiet_since is not None else interval)
    except KeyboardInterrupt:
        return 0


def wait(exp, interval: float, stream=None) -> int:
    """``stbench wait``: the watch view until no run is queued or running, whoever launched them;
    then one line on how the grid ended. 0 when every run is done; 1 when one failed (or was
    damaged, cancelled, blocked) or is left undone with nothing running it."""
    from benchmark.engine.run_layout import DONE
    from benchmark.launch import status

    stream = stream or sys.stdout
    watch(exp, interval, stream)
    views = status(exp)
    undone = {}
    for v in views.values():
        if v.state != DONE:
            undone.setdefault(v.state, []).append(v.run_id)
    if not undone:
        stream.write(f"{exp.name}: all {len(views)} runs done\n")
        return 0
    parts = [f"{len(ids)} {state} ({', '.join(ids[:3])}{' ...' if len(ids) > 3 else ''})"
             for state, ids in sorted(undone.items())]
    stream.write(f"{exp.name}: {len(views) - sum(map(len, undone.values()))} of {len(views)} runs done; "
                 f"{'; '.join(parts)}; nothing is running them now\n")
    return 1
