"""``stbench weights``: import a published checkpoint of an official codebase, list the released
ones, fetch one (download + import). See docs/published_weights.md."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from benchmark.errors import ConfigError


def _import(args: argparse.Namespace) -> int:
    from benchmark.engine.atomic_io import write_bytes_atomic
    from benchmark.models.published.importer import import_checkpoint
    from benchmark.models.published.weights_file import serialize

    if args.classes is not None and args.classes < 1:
        raise ConfigError(f"--classes must be positive, got {args.classes}")
    record = import_checkpoint(args.source, args.checkpoint, args.model, args.classes)
    write_bytes_atomic(args.out, serialize(record))
    print(f"{args.out}: {record['model_name']}, {record['num_classes']} classes, from {record['source']} "
          f"{record['source_file']} (sha256 {record['source_sha256'][:12]}...)")
    return 0


def _list(args: argparse.Namespace) -> int:
    from benchmark.models.published.catalog import published_checkpoints

    rows = published_checkpoints()
    width = max(len(r["name"]) for r in rows)
    print(f"{'name':<{width}}  {'model':<18} {'dataset':<12} {'protocol':<38} top1")
    for r in rows:
        protocol = f"{r['sampling']}, {r['clips']} clips x {r['crops']} crops, {r['crop_size']} px"
        note = f"  ({r['note']})" if r["note"] else ""
        print(f"{r['name']:<{width}}  {r['model']:<18} {r['dataset']:<12} {protocol:<38} {r['top1']:.2f}{note}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from benchmark.engine.atomic_io import write_bytes_atomic
    from benchmark.models.published.catalog import find_checkpoint
    from benchmark.models.published.download import download
    from benchmark.models.published.importer import import_checkpoint
    from benchmark.models.published.weights_file import serialize

    row = find_checkpoint(args.name)
    folder = Path(args.dir)
    original = download(row["url"], folder / row["file"], sha256=row["sha256"], timeout=args.timeout)
    record = import_checkpoint(row["source"], original, row["model"], row["num_classes"])
    out = folder / f"{row['name']}.pt"
    write_bytes_atomic(out, serialize(record))
    print(f"{out}: {row['model']} for {row['dataset']} (published top-1 {row['top1']:.2f} with {row['clips']} clips x "
          f"{row['crops']} crops, {row['sampling']}); evaluate it with: stbench test --weights {out} --dataset DATASET "
          f"--clips {row['clips']} --crops {row['crops']}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("weights", help="import, list and fetch published checkpoints of the official codes")
    sub = p.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    i = sub.add_parser("import", help="convert an official checkpoint into an stbench weights file",
                       description="Reads CHECKPOINT as saved by SOURCE's training script and writes FILE, whose "
                                   "'model' state dict build_model(NAME, num_classes) loads strictly.")
    i.add_argument("source", metavar="SOURCE", help="arp, tsm, pyslowfast, pytorchvideo (or a plugin's)")
    i.add_argument("checkpoint", metavar="CHECKPOINT", type=Path)
    i.add_argument("--model", required=True, metavar="NAME", help="the stbench model, e.g. TAM-ResNet50-f32")
    i.add_argument("--classes", type=int, help="class count (default: the file's classifier)")
    i.add_argument("--out", required=True, type=Path, metavar="FILE")
    i.set_defaults(func=_import)
    ls = sub.add_parser("list", help="the released checkpoints, their protocol and published top-1")
    ls.set_defaults(func=_list)
    f = sub.add_parser("fetch", help="download a listed checkpoint and import it")
    f.add_argument("name", metavar="NAME", help="a name from `stbench weights list`")
    f.add_argument("--dir", default=os.environ.get("STBENCH_WEIGHTS_DIR", "weights"),
                   help="where the download and the imported file go (default: $STBENCH_WEIGHTS_DIR or ./weights)")
    f.add_argument("--timeout", type=float, default=30.0, help="seconds to connect and between reads")
    f.set_defaults(func=_fetch)
