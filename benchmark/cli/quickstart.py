"""``stbench quickstart``: the suite end to end on this machine's CPU in minutes."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "quickstart",
        help="generate synthetic data, train a small grid on CPU, write the report (minutes)",
        description="Generate the synthetic temporal and spatial datasets, train TSN, TSN-tp, TAM, TSM and "
                    "I3D (ResNet18, 8 frames) on both with the local executor, then collect the results and "
                    "write the report (accuracy, Φ/Ψ, temporal-pooling gain, accuracy vs FLOPs). Re-running "
                    "reuses finished runs.",
    )
    p.add_argument("--out", default="results/quickstart", help="output folder (default results/quickstart)")
    p.add_argument("--fresh", action="store_true", help="delete previous quickstart data and runs first")
    p.add_argument("--experiment", default=None, help="experiment YAML (default experiments/quickstart.yaml)")
    p.add_argument("--parallel", type=int, default=2, help="runs trained at the same time (default 2)")
    p.add_argument("--train-clips", type=int, default=None, help="training clips per synthetic dataset (480)")
    p.add_argument("--val-clips", type=int, default=None, help="validation clips per synthetic dataset (120)")
    p.add_argument("--epochs", type=int, default=None, help="override the experiment's epochs")
    p.add_argument("--no-progress", action="store_true", help="plain lines instead of a progress bar")
    p.set_defaults(func=_quickstart)


def _quickstart(args) -> int:
    import logging

    from benchmark.quickstart import QuickstartData, run_quickstart

    if not args.verbose:  # the quickstart prints its own progress; per-run logs stay in each run's log.txt
        logging.getLogger("benchmark").setLevel(logging.WARNING)

    data = QuickstartData()
    if args.train_clips is not None:
        data.train_clips = args.train_clips
    if args.val_clips is not None:
        data.val_clips = args.val_clips
    result = run_quickstart(args.out, experiment=args.experiment, fresh=args.fresh, parallel=args.parallel,
                            data=data, epochs=args.epochs, progress=not args.no_progress)
    if result["failed"]:
        for run_id, why in result["failed"].items():
            print(f"stbench quickstart: {run_id} failed: {why}")
        return 1
    return 0
