"""``stbench train`` and ``stbench test``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from benchmark.errors import ConfigError, StbenchError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train one run (a RUN.yaml or a model name) into a run directory",
        description="Train one run by the paper's protocol (Table 12 defaults). Options override the YAML. "
                    "Exit code 75 means: pre-empted and checkpointed, run again to resume.")
    p.add_argument("run", metavar="RUN.yaml|MODEL", help="a run config file, or a model name such as TAM-ResNet18-f8")
    p.add_argument("--dataset", help="dataset preset name (required with a model name)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="global batch size")
    p.add_argument("--lr", type=float, help="learning rate for optim.reference_batch_size")
    p.add_argument("--seed", type=int)
    p.add_argument("--pretrained", help="imagenet, none, or a weights file")
    p.add_argument("--init-from", metavar="RUN_DIR", help="initialise from another run (progressive training)")
    p.add_argument("--workers", type=int, help="data loader workers per process")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field, dotted for sections (e.g. optim.grad_clip=5); repeatable")
    p.add_argument("--run-dir", help="run directory (default: runs/<run_id> or runs/<dataset>-<model>-s<seed>)")
    p.add_argument("--resume", choices=["auto", "never"], default="auto",
                   help="auto: continue from the run directory's last checkpoint (default); never: start again")
    p.set_defaults(func=_train)

    t = subparsers.add_parser("test", help="evaluate a trained run (or published weights) with m clips x k crops per video",
                              description="Video-level evaluation of RUN_DIR's best (or last) checkpoint; "
                                          "writes test-c{m}x{k}.json, predictions-c{m}x{k}.csv/.npz and every "
                                          "view's logits (views-c{m}x{k}.npz, for the clip-count analysis: "
                                          "accuracy for 1..m clips from one run) into RUN_DIR. With --weights "
                                          "FILE --dataset D instead: evaluate an imported checkpoint (stbench "
                                          "weights import) without training, into a new run directory of kind test.")
    t.add_argument("run_dir", metavar="RUN_DIR", nargs="?")
    t.add_argument("--weights", metavar="FILE", help="an stbench weights file to evaluate (instead of RUN_DIR)")
    t.add_argument("--dataset", help="with --weights: a dataset preset name or dataset YAML")
    t.add_argument("--out", metavar="RUN_DIR", help="with --weights: the run directory to write "
                                                    "(default: runs/test-<dataset>-<weights file name>)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="with --weights: override a run config field (e.g. device=cuda, eval.batch_size=8)")
    t.add_argument("--clips", type=int, help="clips per video (default: the run's eval.clips)")
    t.add_argument("--crops", type=int, help="spatial crops per clip (default: the run's eval.crops)")
    t.add_argument("--checkpoint", choices=["best", "last"], default="best")
    t.add_argument("--average", choices=["logits", "softmax"])
    t.add_argument("--workers", type=int)
    t.add_argument("--no-views", dest="views", action="store_false",
                   help="do not keep the per-view logits (views-c{m}x{k}.npz: videos x m x k x classes floats)")
    t.set_defaults(func=_test)

    r = subparsers.add_parser(
        "repair", help="report and fix what is damaged in a run directory (never deletes results)",
        description="Check every file of RUN_DIR: temporaries left by a killed writer are removed, a torn "
                    "metrics.jsonl is rewritten from its readable lines, damaged checkpoints and result.json "
                    "are set aside as NAME.damaged (the next launch or train --resume auto redoes them); "
                    "what cannot be fixed is reported. A run whose writer may be alive is only reported.")
    r.add_argument("run_dir", metavar="RUN_DIR")
    r.add_argument("--dry-run", action="store_true", help="report what would be done, change nothing")
    r.set_defaults(func=_repair)


def _terminal_progress() -> None:
    """Per-epoch tqdm bars on a terminal (the engine only calls the factory it is given)."""
    import sys

    from benchmark.engine.run_log import set_progress_factory

    if sys.stderr.isatty():
        from tqdm import tqdm

        set_progress_factory(lambda total, desc: tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True))


def _set_dotted(data: dict, key: str, value) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if node is data and part == "dataset" and isinstance(child, str):
            child = node[part] = {"preset": child}  # --set dataset.root=... on a preset name
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: '{part}' is not a section")
        node = child
    node[parts[-1]] = value


def build_config_dict(args: argparse.Namespace) -> dict:
    """The run config from a YAML file or a model name, with the command-line overrides applied."""
    from benchmark.strict_config import load_yaml

    source = Path(args.run)
    if source.suffix in (".yaml", ".yml") or source.is_file():
        data = load_yaml(source)
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping at the top level")
    else:
        if not args.dataset:
            raise ConfigError(f"train {args.run}: --dataset is required when training a model by name")
        data = {"model": args.run}
    flags = {"dataset": args.dataset, "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
             "init_from": args.init_from, "workers": args.workers, "device": args.device}
    for key, value in flags.items():
        if value is not None:
            data[key] = value
    if args.pretrained is not None:
        data["pretrained"] = None if args.pretrained.lower() == "none" else args.pretrained
    if args.lr is not None:
        data.setdefault("optim", {})["lr"] = args.lr
    for item in args.set:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        key, text = item.split("=", 1)
        _set_dotted(data, key.strip(), yaml.safe_load(text))
    return data


def _train(args: argparse.Namespace) -> int:
    from benchmark.engine import RunPreempted, load_run_config, train

    _terminal_progress()
    data = build_config_dict(args)
    cfg = load_run_config(data, where=args.run if Path(args.run).is_file() else "train")
    from benchmark.engine.run_config import dataset_name

    default_id = f"{dataset_name(cfg.dataset) or 'dataset'}-{cfg.model}-s{cfg.seed}"
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / (cfg.run_id or default_id)
    try:
        result = train(cfg, run_dir, resume=args.resume)
    except RunPreempted as exc:
        print(f"stbench train: {exc}")
        return exc.exit_code
    except OSError as exc:
        if isinstance(exc, StbenchError):
            raise
        # an OS error outside the run directory's writers: still one line naming the file
        where = exc.filename or run_dir
        raise StbenchError(f"{where}: {exc.strerror or exc}") from exc
    print(json.dumps({k: result[k] for k in ("run_id", "model", "top1", "top5", "video_top1", "video_top5")}))
    return 0


def _test(args: argparse.Namespace) -> int:
    from benchmark.engine import evaluate

    _terminal_progress()
    if args.weights or args.run_dir is None:
        return _test_weights(args)
    record = evaluate(args.run_dir, clips=args.clips, crops=args.crops, checkpoint=args.checkpoint,
                      average=args.average, workers=args.workers, views=args.views)
    print(json.dumps(record))
    return 0


def _test_weights(args: argparse.Namespace) -> int:
    from benchmark.engine.weights_test import evaluate_weights, weights_test_config

    if not args.weights or not args.dataset or args.run_dir is not None:
        raise ConfigError("test: give RUN_DIR (a trained run), or --weights FILE --dataset DATASET (published weights)")
    overrides: dict = {}
    for item in args.set:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        key, text = item.split("=", 1)
        _set_dotted(overrides, key.strip(), yaml.safe_load(text))
    if args.workers is not None:
        overrides["workers"] = args.workers
    cfg = weights_test_config(args.weights, args.dataset, clips=args.clips or 1, crops=args.crops or 1, overrides=overrides)
    from benchmark.engine.run_config import dataset_name

    out = Path(args.out) if args.out else Path("runs") / f"test-{dataset_name(cfg.dataset) or 'dataset'}-{Path(args.weights).stem}"
    result = evaluate_weights(cfg, out)
    print(json.dumps({"run_dir": str(out), **{k: result[k] for k in ("model", "dataset", "video_top1", "video_top5")}}))
    return 0


def _repair(args: argparse.Namespace) -> int:
    from benchmark.engine.repair import repair

    findings = repair(args.run_dir, dry_run=args.dry_run)
    for finding in findings:
        print(finding.line(args.dry_run))
    if not findings:
        print(f"{args.run_dir}: nothing to repair")
    return 0
