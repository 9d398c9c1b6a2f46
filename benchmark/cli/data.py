"""``stbench data ...``: prepare datasets (extract, convert, mini, index), check them, make synthetic ones."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmark.errors import ConfigError, DataError


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="video", disable=not sys.stderr.isatty())


def cmd_extract(args) -> int:
    from benchmark.data.listfile import read_video_list
    from benchmark.data.prepare import extract_all, find_videos

    src, dst = Path(args.videos), Path(args.frames)
    labels = {}
    if args.list:
        entries = read_video_list(Path(args.list), src, 10**9, args.separator)
        bad = [e.error for e in entries if e.error]
        if bad:
            raise DataError(bad[0])
        videos = [e.path for e in entries]
        labels = {e.path: e.label for e in entries}
    else:
        if not src.is_dir():
            raise DataError(f"{src}: not a directory of videos")
        videos = find_videos(src)
    if not videos:
        raise DataError(f"{args.list or src}: no videos to extract")
    jobs = [(v, dst / v.relative_to(src).with_suffix("")) for v in videos]
    with _progress(len(jobs), "extract") as bar:
        result = extract_all(jobs, short_side=args.short_side, workers=args.workers,
                             template=args.template, quality=args.quality, progress=bar)
    print(f"extracted {len(result.done)}, reused {len(result.reused)}, failed {len(result.failed)} -> {dst}")
    if args.out_list:
        if not args.list:
            raise ConfigError("--out-list needs --list (the labels come from the video list)")
        sep = args.separator or " "
        lines = [sep.join([folder.relative_to(dst).as_posix(), "1", str(result.frames[str(folder)]),
                           str(labels[video])])
                 for video, folder in jobs if str(folder) in result.frames]
        Path(args.out_list).write_text("".join(line + "\n" for line in lines))
        print(f"frame list: {args.out_list} ({len(lines)} videos)")
    for failure in result.failed:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if result.failed else 0


def cmd_convert(args) -> int:
    from benchmark.data import convert

    out, root, fmt = Path(args.out), Path(args.root), args.format
    train, val = (Path(p) if p else None for p in (args.train, args.val))
    if args.dataset == "ssv2":
        result = convert.convert_ssv2(Path(args.labels), train, val, root, out, fmt)
    elif args.dataset == "kinetics":
        result = convert.convert_kinetics(train, val, root, out, fmt, args.name_template)
    elif args.dataset == "mit":
        cats = Path(args.categories) if args.categories else None
        result = convert.convert_mit(train, val, root, out, fmt, cats)
    elif args.dataset == "ucf101":
        result = convert.convert_ucf101(train, val, Path(args.labels), root, out, fmt)
    elif args.dataset == "hmdb51":
        result = convert.convert_hmdb51(Path(args.splits), args.split, root, out, fmt)
    else:
        result = convert.convert_jester(Path(args.labels), train, val, root, out, fmt)
    counts = ", ".join(f"{k}: {v}" for k, v in result.counts.items())
    print(f"{args.dataset}: {len(result.classes)} classes, {counts} -> {out}/train.txt, val.txt, classes.txt")
    if result.missing:
        print(f"{len(result.missing)} videos left out (not found); first: {result.missing[0]}", file=sys.stderr)
        if args.missing_log:
            Path(args.missing_log).write_text("".join(m + "\n" for m in result.missing))
    return 0


def cmd_mini(args) -> int:
    from benchmark.data.prepare import make_mini, read_names, select_classes

    all_classes = read_names(Path(args.classes))
    mini = select_classes(all_classes, args.select, args.seed)
    counts = make_mini([Path(p) for p in args.lists], all_classes, mini, Path(args.out), args.separator)
    for path, n in counts.items():
        print(f"{path}: {n} videos")
    print(f"{Path(args.out) / 'mini_classes.txt'}: {len(mini)} classes")
    return 0


def cmd_index(args) -> int:
    from benchmark.data.dataset_config import dataset_file_beside, write_dataset_file
    from benchmark.data.prepare import index_tree, read_names

    out, root = Path(args.out), Path(args.root)
    classes_file = Path(args.classes) if args.classes else out.with_name("classes.txt")
    classes_from = Path(args.classes_from) if args.classes_from else None
    n, sep = index_tree(root, out, classes_file, classes_from)
    note = " (paths contain spaces: set `separator: \";\"`)" if sep == ";" else ""
    print(f"{out}: {n} videos; classes in {classes_file}{note}")
    names = classes_from or classes_file
    # Everything `check`, `train` and experiments need besides the list, so the list alone suffices.
    dataset = dataset_file_beside(out)
    write_dataset_file(dataset, {
        "name": _dataset_name(root), "format": "video", "root": str(root.resolve()),
        "train_list": str(out.resolve()), "val_list": str(out.resolve()),
        "num_classes": len(read_names(names)), "classes": str(names.resolve()),
        "separator": ";" if sep == ";" else None, "decoder": "pyav",
    })
    print(f"dataset: {dataset}")
    print(f"  check it:    stbench data check {out}")
    print(f"  train on it: stbench train TSN-ResNet18-f8 --dataset {dataset}")
    if classes_from:
        print(f"  validate on it: stbench train ... --set dataset.val_list={out.resolve()}")
    return 0


def _dataset_name(root: Path) -> str:
    """The dataset's name for run ids: the tree's folder, or its parent's for a split folder."""
    root = root.resolve()
    split_names = ("train", "training", "val", "validation", "test", "testing")
    return root.parent.name if root.name.lower() in split_names and root.parent.name else root.name


def _check_config(args):
    from benchmark.data.dataset_config import PRESETS, resolve_data_config
    from benchmark.strict_config import load_yaml

    if args.dataset:
        spec = args.dataset if args.dataset in PRESETS else load_yaml(args.dataset)
        if isinstance(spec, dict) and "dataset" in spec:
            spec = spec["dataset"]
        return resolve_data_config(spec, f"{args.dataset}: dataset"), args.split
    if not args.list:
        raise ConfigError("give a LIST file or --dataset NAME|YAML")
    return _list_config(args), "train"


def _list_config(args):
    """The dataset of a bare LIST: its ``.dataset.yaml`` (from ``data index``) or the flags, flags first."""
    from benchmark.data.dataset_config import dataset_file, dataset_file_beside, resolve_data_config

    path = Path(args.list)
    beside = dataset_file_beside(path)
    settings = dataset_file(beside) if beside.is_file() else {}
    if args.num_classes is None and "num_classes" not in settings:
        raise ConfigError(f"{path}: --num-classes is required (labels are checked against it); no "
                          f"{beside.name} beside the list, as `stbench data index` writes")
    if not settings:
        settings = {"root": str(path.parent), "resize": 256, "crop": 224}
    flags = {"root": args.root, "num_classes": args.num_classes, "separator": args.separator,
             "filename_template": args.template, "min_frames": args.min_frames, "decoder": args.decoder}
    settings.update({k: v for k, v in flags.items() if v is not None})
    if args.format != "auto":
        settings["format"] = args.format
    elif "format" not in settings:
        from benchmark.data.formats import sniff_format

        settings["format"] = sniff_format(path, settings.get("separator"))
    settings["train_list"] = settings["val_list"] = str(path.resolve())  # exactly this list
    return resolve_data_config(settings, str(beside) if beside.is_file() else f"{path}: dataset")


def cmd_check(args) -> int:
    from benchmark.data.check import check_split
    from benchmark.data.dataset import read_entries

    cfg, split = _check_config(args)
    total = len(read_entries(cfg, split))
    with _progress(total, "check") as bar:
        n, problems = check_split(cfg, split, quick=args.quick, workers=args.workers, progress=bar)
    for p in problems:
        print(p)
    print(f"checked {n} entries of {cfg.split_source(split)}: {len(problems)} problem(s)",
          file=sys.stderr if problems else sys.stdout)
    return 1 if problems else 0


def cmd_synth(args) -> int:
    from benchmark.data.synthetic import generate

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    out = Path(args.out) if args.out else Path("data") / f"synthetic-{args.kind}"
    info = generate(args.kind, out, num_train=args.train, num_val=args.val, size=args.size,
                    frames_per_video=args.frames, seed=args.seed, formats=formats, overwrite=args.overwrite)
    print(f"synthetic-{args.kind}: {info['num_train']} train + {info['num_val']} val clips, "
          f"{info['num_classes']} classes, {info['size']}px x {info['frames_per_video']} frames -> {out}")
    return 0


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="prepare, check and synthesise datasets",
                                 description="Dataset preparation (see docs/data.md).")
    sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    _add_extract(sub)
    _add_convert(sub)
    _add_mini(sub)
    _add_index(sub)
    _add_check(sub)
    _add_synth(sub)
    _add_bench(sub)


def _add_extract(sub) -> None:
    p = sub.add_parser("extract", help="decode videos into JPEG frame folders (short side resized)")
    p.add_argument("videos", help="root folder of the videos")
    p.add_argument("frames", help="output root; each video becomes a folder at the same relative path")
    p.add_argument("--list", help="video list '<path> <label>' (relative to the videos root); default: all videos")
    p.add_argument("--out-list", help="write the official frame list '<folder> 1 <frames> <label>' (needs --list)")
    p.add_argument("--separator", default=None, help="list field separator (default whitespace; ';' for Kinetics)")
    p.add_argument("--short-side", type=int, default=256)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--template", default="{:05d}.jpg")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality")
    p.set_defaults(func=cmd_extract)


def _add_convert(sub) -> None:
    p = sub.add_parser("convert", help="official annotations -> list files (train.txt, val.txt, classes.txt)")
    p.add_argument("dataset", choices=CONVERTERS)
    p.add_argument("--train", help="ssv2: train.json; kinetics: train.csv; mit: trainingSet.csv; "
                                   "ucf101: trainlistNN.txt; jester: jester-v1-train.csv")
    p.add_argument("--val", help="ssv2: validation.json; kinetics: validate.csv; mit: validationSet.csv; "
                                 "ucf101: testlistNN.txt; jester: jester-v1-validation.csv")
    p.add_argument("--labels", help="ssv2: labels.json; ucf101: classInd.txt; jester: jester-v1-labels.csv")
    p.add_argument("--splits", help="hmdb51: folder of the <class>_test_split<N>.txt files")
    p.add_argument("--split", type=int, help="hmdb51: split number N (1, 2 or 3)")
    p.add_argument("--categories", help="mit: moments_categories.txt (name,id); default: sorted names")
    p.add_argument("--root", required=True, help="dataset root holding the frame folders (or videos)")
    p.add_argument("--out", required=True, help="output folder for the list files")
    p.add_argument("--format", choices=("frames", "video"), default="frames")
    p.add_argument("--name-template", default=None, help="kinetics: video name template")
    p.add_argument("--missing-log", help="write the videos left out to this file")
    p.set_defaults(func=_convert_checked)


def _add_mini(sub) -> None:
    p = sub.add_parser("mini", help="mini dataset: keep a class subset, labels renumbered in sorted order")
    p.add_argument("lists", nargs="+", help="list files (label = last field), e.g. train.txt val.txt")
    p.add_argument("--classes", required=True, help="the full dataset's classes file (one name per line, label order)")
    p.add_argument("--select", required=True,
                   help="mini-kinetics | mini-ssv2 (shipped lists), a file of class names, or random-half")
    p.add_argument("--seed", type=int, default=0, help="seed for random-half")
    p.add_argument("--separator", default=None)
    p.add_argument("--out", required=True, help="output folder (mini_<list>, mini_classes.txt)")
    p.set_defaults(func=cmd_mini)


def _add_index(sub) -> None:
    p = sub.add_parser("index", help="list file '<class>/<video> <label>' from a class-per-subfolder tree",
                       description="Writes the list, the classes file and the list's dataset file "
                                   "(train.txt -> train.dataset.yaml) that check, train and experiments read.")
    p.add_argument("root", help="folder with one subfolder per class")
    p.add_argument("--out", required=True, help="list file to write")
    p.add_argument("--classes", help="classes file to write (default: classes.txt next to --out)")
    p.add_argument("--classes-from", help="use this classes file's order (e.g. the training classes for val)")
    p.set_defaults(func=cmd_index)


def _add_check(sub) -> None:
    p = sub.add_parser("check", help="open every entry; report each bad one with file, line and reason")
    p.add_argument("list", nargs="?", help="list file (frames: 4 fields, videos: 2 fields)")
    p.add_argument("--dataset", help="instead of LIST: a preset name or a YAML (a run config or a dataset mapping)")
    p.add_argument("--split", choices=("train", "val"), default="train")
    p.add_argument("--root", help="dataset root (default: from LIST's .dataset.yaml, else the list's folder)")
    p.add_argument("--num-classes", type=int, help="default: from LIST's .dataset.yaml (written by data index)")
    p.add_argument("--format", default="auto",
                   help="a dataset format (frames, video, or a plugin's); default: told from the list's first line")
    p.add_argument("--separator", default=None)
    p.add_argument("--template", default=None, help="frame file names (default {:05d}.jpg)")
    p.add_argument("--min-frames", type=int, default=None, help="default 1")
    p.add_argument("--decoder", default=None, help="video decoder: pyav (default) | torchcodec")
    p.add_argument("--quick", action="store_true", help="decode only first/middle/last frames")
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=cmd_check)


def _add_synth(sub) -> None:
    p = sub.add_parser("synth", help="generate a synthetic dataset (real mp4 + JPEG frame folders)")
    p.add_argument("kind", choices=("temporal", "spatial"))
    p.add_argument("--out", help="output folder (default data/synthetic-KIND)")
    p.add_argument("--train", type=int, default=800)
    p.add_argument("--val", type=int, default=200)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--frames", type=int, default=16, help="frames per video")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--formats", default="frames,video")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_synth)


def cmd_bench(args) -> int:
    from benchmark.data.bench import bench_loaders
    from benchmark.data.dataset_config import dataset_file_beside

    if args.num_classes is None and not dataset_file_beside(Path(args.list)).is_file():
        args.num_classes = 10**9  # labels play no part in a speed test
    cfg = _list_config(args)
    if args.resize is not None or args.crop is not None:
        from dataclasses import replace

        cfg = replace(cfg, resize=args.resize or cfg.resize, crop=args.crop or cfg.crop)
    rows = bench_loaders(cfg, "train", frames=args.frames, workers=args.workers, batches=args.batches,
                         batch_size=args.batch_size, rounds=args.rounds, normalise_on_cpu=args.normalise_on_cpu)
    print(f"# {args.list}: {cfg.format}, training transforms (resize {cfg.resize}, crop {cfg.crop}), "
          f"batch {args.batch_size}, {args.batches} batches x best of {args.rounds} rounds per loader")
    print("| frames | workers | stbench clips/s | PIL clips/s | ratio |")
    print("|---|---|---|---|---|")
    for r in rows:
        pil = f"{r.pil_clips_per_s:.1f}" if r.pil_clips_per_s else "-"
        ratio = f"{r.ratio:.2f}x" if r.ratio else "-"
        print(f"| {r.frames} | {r.workers} | {r.stbench_clips_per_s:.1f} | {pil} | {ratio} |", flush=True)
    return 0


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="loader clips/s on your storage, beside an ARP-style PIL loader",
                       description="Times training-mode loading of LIST's clips for each clip length and "
                                   "worker count; the PIL baseline (JPEG frame folders) runs alternately "
                                   "in the same process (see docs/data.md, loader throughput).")
    p.add_argument("list", help="list file (frames: 4 fields, videos: 2 fields)")
    p.add_argument("--root", help="dataset root (default: from LIST's .dataset.yaml, else the list's folder)")
    p.add_argument("--num-classes", type=int, help="default: from LIST's .dataset.yaml (labels are not used)")
    p.add_argument("--format", default="auto", help="frames, video or a plugin's; default: from the list")
    p.add_argument("--separator", default=None)
    p.add_argument("--template", default=None, help="frame file names (default {:05d}.jpg)")
    p.add_argument("--min-frames", type=int, default=None)
    p.add_argument("--decoder", default=None, help="video decoder: pyav (default) | torchcodec")
    p.add_argument("--resize", type=int, help="short side (default: the dataset's, else 256)")
    p.add_argument("--crop", type=int, help="crop size (default: the dataset's, else 224)")
    p.add_argument("--frames", type=int, nargs="+", default=[8, 16], help="clip lengths (default 8 16)")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="worker counts (default 0 2)")
    p.add_argument("--batches", type=int, default=8, help="timed batches per loader and round (default 8)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best is shown (default 2)")
    p.add_argument("--normalise-on-cpu", action="store_true",
                   help="count the suite's normalisation on the CPU (a CPU-only run's cost)")
    p.set_defaults(func=cmd_bench)


#: Each converter's required flags (beyond --root and --out).
CONVERTERS = {"ssv2": ("train", "val", "labels"), "kinetics": ("train", "val"), "mit": ("train", "val"),
              "ucf101": ("train", "val", "labels"), "hmdb51": ("splits", "split"),
              "jester": ("train", "val", "labels")}


def _convert_checked(args) -> int:
    needed = CONVERTERS[args.dataset]
    absent = [f"--{name}" for name in needed if getattr(args, name) is None]
    if absent:
        raise ConfigError(f"convert {args.dataset} needs {', '.join(absent)} (see stbench data convert --help)")
    extra = [f"--{name}" for name in ("train", "val", "labels", "splits", "split")
             if name not in needed and getattr(args, name) is not None]
    if extra:
        raise ConfigError(f"convert {args.dataset} does not take {', '.join(extra)}")
    if args.name_template is not None and args.dataset != "kinetics":
        raise ConfigError("--name-template applies to kinetics only")
    if args.name_template is None:
        from benchmark.data.convert import KINETICS_TEMPLATE

        args.name_template = KINETICS_TEMPLATE
    return cmd_convert(args)
