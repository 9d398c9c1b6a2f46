"""``stbench plan | launch | status | cancel EXPERIMENT.yaml``."""

from __future__ import annotations

import fnmatch
import json
import sys
from pathlib import Path

from benchmark.errors import ConfigError, StbenchError


class _ExecutorNames:
    """The executor registry's names as argparse choices, read only when ``--executor`` is given
    or help is shown (loading the launch layer at start-up would slow every command)."""

    def __contains__(self, name: object) -> bool:
        from benchmark.launch.executor import EXECUTORS

        return name in EXECUTORS

    def __iter__(self):
        from benchmark.launch.executor import EXECUTORS

        return iter(EXECUTORS.names())


def register(subparsers) -> None:
    p = subparsers.add_parser("plan", help="list an experiment's runs, dependencies and compute, launching nothing")
    p.add_argument("experiment", help="experiment YAML (see experiments/)")
    p.add_argument("--no-estimate", action="store_true", help="skip the compute estimate (profiles every model)")
    p.add_argument("--summary", action="store_true", help="only the totals, not one line per run")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--detect", type=float, metavar="POINTS",
                   help="say how many seeds per cell detect a top-1 difference of POINTS (5%% test, 80%% power), "
                        "from the seed spread of the repeated runs in --seeds-from")
    p.add_argument("--seeds-from", metavar="SOURCE",
                   help="--detect: earlier runs whose seeds measure the spread (default: the experiment's own output)")
    p.set_defaults(func=_plan)

    p = subparsers.add_parser("launch", help="submit the runs that are not done (idempotent)")
    p.add_argument("experiment")
    p.add_argument("--executor", choices=_ExecutorNames(), default="local", metavar="NAME",
                   help="where the runs run: %(choices)s, or a plugin's (STBENCH_PLUGINS); local: on this "
                        "machine, waiting for the runs (default); slurm: submit and return")
    p.add_argument("--profile", default=None, help="SLURM cluster profile: a name in slurm/ or a YAML path (default: local)")
    p.add_argument("--parallel", type=int, default=1, help="local executor: runs at the same time (default 1)")
    p.add_argument("--hold", action="store_true", help="slurm: submit held (release with 'scontrol release')")
    p.add_argument("--runs", default=None, metavar="GLOB", help="only the runs whose id matches, e.g. 'mini-ssv2/TAM-*'")
    p.add_argument("--wait", action="store_true",
                   help="then wait until every run of the experiment is finished, whoever launched it (as stbench wait)")
    p.set_defaults(func=_launch)

    p = subparsers.add_parser("wait", help="block until every run of an experiment is finished, whoever launched it",
                              description="Shows the progress view of status --watch until no run is queued or "
                                          "running; exits 0 when every run is done, 1 when one failed or is left "
                                          "undone (so 'stbench wait EXP && stbench collect EXP' collects finished runs).")
    p.add_argument("experiment")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between refreshes (default 5)")
    p.set_defaults(func=_wait)

    p = subparsers.add_parser("status", help="table of an experiment's runs: state, epoch, top-1, job, reason")
    p.add_argument("experiment")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--watch", action="store_true",
                   help="refresh a progress view (bar over the grid's epochs, counts, ETA) until no run is active")
    p.add_argument("--interval", type=float, default=10.0, help="--watch: seconds between refreshes (default 10)")
    p.set_defaults(func=_status)

    p = subparsers.add_parser("cancel", help="cancel the queued and running jobs of an experiment")
    p.add_argument("experiment")
    p.set_defaults(func=_cancel)


def _init_label(run) -> str:
    """How a planned run is initialised: progressive (from its half-frame run in the grid), from a
    run outside the grid (fine-tuning), from weights, or random."""
    if run.config.get("init_from"):
        return "progressive" if run.depends_on else "from run " + Path(run.config["init_from"]).name
    return str(run.config.get("pretrained") or "random")


def _seeds_for(exp, detect: float, source: str | None) -> str:
    """One line: the seeds per cell that detect ``detect`` points, from measured seed spread."""
    from benchmark.analysis.collect import collect, done_runs
    from benchmark.analysis.seeds import pooled_sd, seed_spread, seeds_needed

    source = source or str(exp.output)
    try:
        spread = seed_spread(done_runs(collect(source)))
    except StbenchError:
        spread = None
    if spread is None or spread.empty:
        return (f"--detect {detect:g}: no repeated runs (one cell, several seeds) in {source} to measure the seed "
                "spread from; run a few cells with seeds: [0, 1, 2] first, or name them with --seeds-from")
    sd = pooled_sd(spread)
    return (f"--detect {detect:g}: {seeds_needed(sd, detect)} seeds per cell detect a {detect:g}-point top-1 difference "
            f"(two-sided 5% test, 80% power), from a seed SD of {sd:.2f} points pooled over {len(spread)} cells "
            f"with repeated runs in {source}")


def _plan(args) -> int:
    from benchmark.grid import load_experiment
    from benchmark.grid.estimate import estimate, human

    exp = load_experiment(args.experiment)
    if args.detect is not None:
        if args.detect <= 0:
            raise ConfigError(f"--detect: the difference to detect must be positive, got {args.detect:g}")
        print(_seeds_for(exp, args.detect, args.seeds_from))
    runs = exp.runs()
    deps = exp.dependencies()
    estimates = None
    if not args.no_estimate:
        print(f"profiling the models of {len(runs)} runs (meta device)...", file=sys.stderr)
        estimates = {e.run_id: e for e in estimate(exp, runs)}
    total = sum(e.macs or 0 for e in estimates.values()) if estimates else None
    if args.format == "json":
        out = {
            "experiment": exp.name, "output": str(exp.output), "runs": len(runs), "dependencies": len(deps),
            "total_macs": total,
            "plan": [{
                "run_id": r.run_id, "run_dir": str(r.run_dir), "depends_on": r.depends_on,
                "model": r.config["model"], "epochs": r.config["epochs"], "batch_size": r.config["batch_size"],
                **({"macs_per_clip": estimates[r.run_id].macs_per_clip,
                    "clips_per_epoch": estimates[r.run_id].clips_per_epoch,
                    "macs": estimates[r.run_id].macs} if estimates else {}),
            } for r in runs],
        }
        print(json.dumps(out, indent=2))
        return 0
    print(f"experiment {exp.name}: {args.experiment} -> {exp.output}")
    if not args.summary:
        header = ["run", "depends on", "epochs", "batch", "init"]
        if estimates:
            header += ["GMACs/clip", "clips/epoch", "compute"]
        table = [header]
        for r in runs:
            row = [r.run_id, ", ".join(r.depends_on) or "-", str(r.config["epochs"]), str(r.config["batch_size"]),
                   _init_label(r)]
            if estimates:
                e = estimates[r.run_id]
                row += [f"{e.macs_per_clip / 1e9:.1f}", str(e.clips_per_epoch or "?"),
                        human(e.macs) if e.macs is not None else "?"]
            table.append(row)
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    why = " (progressive: each run starts from its half-frame run)" if exp.spec.progressive and deps else ""
    print(f"{len(runs)} runs, {len(deps)} dependencies{why}")
    if estimates:
        sources = sorted({e.clips_source for e in estimates.values()})
        unknown = sum(1 for e in estimates.values() if e.macs is None)
        print(f"compute estimate: {human(total)} = MACs per clip x training clips x epochs, summed "
              f"(forward passes; training is about 3x that)" + (f"; {unknown} runs without a clip count" if unknown else ""))
        print(f"clips per epoch from: {'; '.join(sources)}")
    return 0


def _launch(args) -> int:
    from benchmark.grid import load_experiment
    from benchmark.launch import format_table, launch, status
    from benchmark.launch.executor import EXECUTORS

    exp = load_experiment(args.experiment)
    only = (lambda r: fnmatch.fnmatchcase(r.run_id, args.runs)) if args.runs else None
    on_event = None
    if EXECUTORS.get(args.executor, "--executor").waits:  # it trains here: show the runs as they end
        from benchmark.cli.progress import run_progress

        runs = [r for r in exp.runs() if only is None or only(r)]
        on_event = run_progress(runs, exp, True, print, exp.name)
    report = launch(exp, executor=args.executor, profile=args.profile, parallel=args.parallel,
                    hold=args.hold, only=only, on_event=on_event)
    print(f"{exp.name}: {report.summary()}")
    for run_id, owner in report.owned.items():
        print(f"  {run_id}: not started here, owned by {owner}")
    for run_id, what in report.waiting.items():
        print(f"  {run_id}: not submitted, waits for {what}; launch again once it is done")
    if args.wait:  # every run, this launch's and other launches' alike
        from benchmark.cli.progress import wait

        return wait(exp, interval=1.0)
    if report.waited:  # the runs have ended: show how
        print(format_table(status(exp)))
        return 1 if report.failed or report.blocked else 0
    return 0


def _wait(args) -> int:
    from benchmark.cli.progress import wait
    from benchmark.grid import load_experiment

    return wait(load_experiment(args.experiment), args.interval)


def _status(args) -> int:
    from benchmark.grid import load_experiment
    from benchmark.launch import format_table, status

    exp = load_experiment(args.experiment)
    if args.watch:
        from benchmark.cli.progress import watch

        return watch(exp, args.interval)
    views = status(exp)
    if args.format == "json":
        print(json.dumps([{
            "run_id": v.run_id, "state": v.state, "epoch": v.epoch, "best_top1": v.best_top1,
            "job_id": v.job_id, "executor": v.executor, "elapsed_s": v.elapsed_s, "reason": v.reason,
            "run_dir": str(v.run.run_dir),
        } for v in views.values()], indent=2))
    else:
        print(format_table(views))
    return 0


def _cancel(args) -> int:
    from benchmark.grid import load_experiment
    from benchmark.launch import cancel

    cancelled = cancel(load_experiment(args.experiment))
    print(f"cancelled {len(cancelled)} job(s)" + (": " + ", ".join(cancelled) if cancelled else ""))
    return 0
