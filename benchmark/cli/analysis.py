"""``stbench collect | metrics | report | compare``: the analysis layer's commands.

Heavy imports (pandas, matplotlib) happen inside the handlers so ``stbench --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys

from benchmark.errors import ConfigError

SOURCE_HELP = ("an experiment YAML, a results folder, a table written by 'stbench collect' (.csv/.parquet), "
               "or a reference name (paper-mini)")
# `--reference paper`: the official mini grid plus every table paper 002 prints (report only).
PAPER = "paper"


def _add_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", nargs="?", metavar="SOURCE", help=SOURCE_HELP)
    parser.add_argument("--reference", metavar="NAME", help="use published reference results instead (paper-mini; "
                        "for report also paper: the mini grid plus every table the paper prints)")


def _source(args) -> str:
    if bool(args.source) == bool(args.reference):
        raise ConfigError(f"stbench {args.command}: give exactly one of SOURCE or --reference NAME ({SOURCE_HELP})")
    return args.source or args.reference


def _collect(args):
    """The source's runs table; a source without any run is an error (nothing to analyse)."""
    from benchmark.analysis.collect import collect
    from benchmark.errors import DataError

    source = _source(args)
    table = collect("paper-mini" if source == PAPER and args.reference else source)
    if table.empty:
        raise DataError(f"{_source(args)}: no runs found (a results folder holds run directories with a "
                        "config.yaml; or give an experiment YAML or a table written by 'stbench collect')")
    return table


def cmd_collect(args) -> int:
    from benchmark.analysis.collect import write_table

    table = _collect(args)
    if args.out:
        path = write_table(table, args.out)
        counts = table["state"].value_counts().to_dict()
        print(f"{len(table)} runs ({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))}) -> {path}")
    else:
        table.to_csv(sys.stdout, index=False)
    return 0


def cmd_metrics(args) -> int:
    from benchmark.analysis.phi_psi import format_summary, summarize

    print(format_summary(summarize(_collect(args)), args.format))
    return 0


def cmd_report(args) -> int:
    from benchmark.analysis.report import build_report

    bench = None
    if args.bench:
        from benchmark.analysis.measured_cost import load_bench

        bench = load_bench(args.bench)
    written = build_report(_collect(args), args.out, source=_source(args), printed=args.reference == PAPER,
                           bench=bench)
    print(f"report: {args.out}/index.html and report.md; {len(written['figures'])} figures, "
          f"{len(written['tables'])} tables ({written['seconds']} s)")
    for line in written["skipped"]:
        print(f"  not drawn: {line}")
    return 0


def cmd_compare(args) -> int:
    from benchmark.analysis.compare import compare_modules, format_comparison

    against = [m.strip() for m in args.against.split(",") if m.strip()]
    if not against:
        raise ConfigError("--against: give at least one module, e.g. I3D,S3D,TAM,TSM")
    from benchmark.analysis.audit import allowed_dimensions

    allow = allowed_dimensions(args.allow)
    table = _collect(args)
    if args.at_cost:  # another question: each module's accuracy at the other's costs, no bootstrap
        return _compare_at_cost(args, table, against)
    comparison = compare_modules(table, args.module, against, resamples=args.resamples, seed=args.seed, allow=allow)
    if allow:
        print(f"comparing across differences on purpose: {', '.join(sorted(allow))} (--allow)")
    if args.out:
        from benchmark.analysis.collect import write_table

        write_table(comparison, args.out)
    print(format_comparison(comparison))
    return 0


def _compare_at_cost(args, table, against: list[str]) -> int:
    from benchmark.analysis.at_cost import matched_cost
    from benchmark.analysis.collect import done_runs
    from benchmark.analysis.measured_cost import load_bench

    bench = load_bench(args.bench) if args.bench else None
    rows = matched_cost(done_runs(table), args.module, against, args.at_cost, bench)
    if args.out:
        from benchmark.analysis.collect import write_table

        write_table(rows, args.out)
    if rows.empty:
        print(f"no finished {args.module} runs with a {args.at_cost} figure")
    for r in rows.itertuples():
        where = f"{r.dataset} {r.model} at {args.at_cost} {r.cost:.4g}"
        other = (f"{r.against} {r.against_top1_at_cost:.2f} at the same cost, Δ {r.diff:+.2f}"
                 if r.note == "" else f"{r.against}: {r.note}")
        print(f"{where}: top-1 {r.top1:.2f} vs {other}")
    return 0


def cmd_export(args) -> int:
    from benchmark.analysis.mlflow_export import export_mlflow

    report = export_mlflow(args.source, tracking_uri=args.tracking_uri, experiment=args.experiment)
    print(f"{report.tracking_uri}: experiment {report.experiment!r}: {len(report.created)} runs created, "
          f"{len(report.updated)} updated")
    return 0


def register(subparsers) -> None:
    e = subparsers.add_parser("export", help="write runs into a tracker (MLflow)",
                              description="Export every run of a results folder or experiment into an MLflow "
                                          "tracking store: params, per-epoch and final metrics, tags, files. "
                                          "Idempotent (runs are found again by their run directory). Run it from "
                                          "one process (the login node), never from many jobs at once.")
    e.add_argument("tracker", choices=("mlflow",))
    e.add_argument("source", metavar="SOURCE", help="a results folder or an experiment YAML")
    e.add_argument("--tracking-uri", help="default: sqlite:///SOURCE_FOLDER/mlflow.db")
    e.add_argument("--experiment", help="the MLflow experiment (default: the source's name)")
    e.set_defaults(func=cmd_export)
    p = subparsers.add_parser("collect", help="one tidy row per run (CSV or parquet)",
                              description="Collect run results into one tidy table: one row per run with its state.")
    _add_source(p)
    p.add_argument("--out", metavar="FILE", help="output .csv or .parquet (default: CSV on stdout)")
    p.set_defaults(func=cmd_collect)

    p = subparsers.add_parser("metrics", help="Φ/Ψ per dataset and module (paper Eq. 1–2)",
                              description="Spatial contribution Φ̄ and temporal improvement Ψ̄^ta, Ψ̄^{ta+tp} "
                                          "against TSN without temporal pooling (paper 002, Table 7).")
    _add_source(p)
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.set_defaults(func=cmd_metrics)

    p = subparsers.add_parser("report", help="HTML + Markdown report with the paper's tables and figures")
    _add_source(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--bench", action="append", metavar="FILE", default=[],
                   help="measured speed/memory from 'stbench bench --out FILE' (Table 8 section); repeatable")
    p.set_defaults(func=cmd_report)

    p = subparsers.add_parser("compare", help="fair comparison of a new module, with paired bootstrap CIs",
                              description="Side-by-side at matched dataset, backbone, frames and tp: top-1, Φ/Ψ, "
                                          "params and MACs ratios, paired bootstrap 95% CI of the difference.")
    _add_source(p)
    p.add_argument("--module", required=True, help="the new module")
    p.add_argument("--against", default="I3D,S3D,TAM,TSM", help="comma-separated modules (default: %(default)s)")
    p.add_argument("--resamples", type=int, default=10000, help="bootstrap resamples (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap random seed")
    p.add_argument("--out", metavar="FILE", help="also write the comparison as .csv or .parquet")
    p.add_argument("--allow", metavar="DIM[,DIM]",
                   help="give a verdict across these differences: val, train, classes, protocol (data = the first three), "
                        "or one protocol field: views, sampling, crop, resize, pretraining, epochs, batch, lr, schedule, amp")
    p.add_argument("--at-cost", choices=("macs", "latency", "memory"),
                   help="accuracy at matched cost: each module's top-1 curve over its frames/backbones, "
                        "interpolated at the new module's costs (latency/memory need --bench)")
    p.add_argument("--bench", action="append", default=[], metavar="FILE",
                   help="--at-cost latency|memory: measured figures from 'stbench bench --out'; repeatable")
    p.set_defaults(func=cmd_compare)
