"""``stbench models`` (what can be built) and ``stbench profile`` (params and MACs of one model)."""

from __future__ import annotations

import argparse
import json

import yaml

from benchmark.errors import ConfigError


def _catalogue() -> dict:
    from benchmark.models.registry import ARCHITECTURES, BACKBONES, MODULES, load_plugins, supported_backbones

    load_plugins()
    return {
        "modules": [{"name": e.name, "backbones": supported_backbones(e.name),
                     "description": e.description, "paper": e.paper} for e in MODULES.values()],
        "backbones": [{"name": e.name, "family": e.family, "description": e.description,
                       "mean": list(e.mean), "std": list(e.std)} for e in BACKBONES.values()],
        "architectures": [{"name": e.name, "description": e.description, "paper": e.paper,
                           "frames": list(e.default_frames)} for e in ARCHITECTURES.values()],
    }


def _format_catalogue(cat: dict) -> str:
    lines = ["Modules (name them as {module}-{backbone}[-tp]-f{frames}, e.g. TAM-ResNet50-tp-f16):"]
    all_backbones = {b["name"] for b in cat["backbones"]}
    width = max(len(e["name"]) for part in cat.values() for e in part) + 2
    for m in cat["modules"]:
        on = "all backbones" if set(m["backbones"]) == all_backbones else ", ".join(m["backbones"])
        lines.append(f"  {m['name']:<{width}}{m['description']} [{on}]")
    lines.append("Backbones:")
    for b in cat["backbones"]:
        lines.append(f"  {b['name']:<{width}}{b['family']:<10} {b['description']}")
    lines.append("Architectures (name them as {architecture}[-tp]-f{frames}):")
    if not cat["architectures"]:
        lines.append("  (none registered)")
    for a in cat["architectures"]:
        lines.append(f"  {a['name']:<{width}}{a['description']}")
    return "\n".join(lines)


def cmd_models(args) -> int:
    cat = _catalogue()
    print(json.dumps(cat, indent=2) if args.format == "json" else _format_catalogue(cat))
    return 0


def cmd_profile(args) -> int:
    from benchmark.models.naming import parse_model_name
    from benchmark.models.profile import profile_model

    if args.classes < 1:
        raise ConfigError(f"--classes must be positive, got {args.classes}")
    spec = parse_model_name(args.name)
    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option {item!r}: expected KEY=VALUE, e.g. tam_placement=top-half")
        options[key] = yaml.safe_load(value)
    height, width = args.size
    result = profile_model(spec, args.classes, size=(height, width), options=options)
    if args.format == "json":
        size = height if height == width else [height, width]
        print(json.dumps({"model": spec.name, "classes": args.classes, "size": size, **result}))
    else:
        print(f"model      {spec.name}  ({args.classes} classes, {spec.frames}x{height}x{width} clip)")
        print(f"params     {result['params']:>16,}  ({result['params'] / 1e6:.1f} M, classifier included)")
        print(f"macs_conv  {result['macs_conv']:>16,}  ({result['macs_conv'] / 1e9:.1f} G, conv+linear, "
              "classifier excluded: the paper's FLOPs)")
        print(f"macs_all   {result['macs_all']:>16,}  ({result['macs_all'] / 1e9:.1f} G, every op "
              "torch.utils.flop_counter counts, halved)")
    return 0


def _frame_size(text: str) -> tuple[int, int]:
    """``256`` → (256, 256); ``240x256`` → (240, 256)."""
    parts = text.lower().split("x")
    if len(parts) > 2 or not all(part.strip().isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number (256) or HEIGHTxWIDTH (240x256)")
    height, width = int(parts[0]), int(parts[-1])
    return height, width


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list spatio-temporal modules, backbones and architectures",
                              description="List what 'stbench profile', grids and runs can build.")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_models)

    p = subparsers.add_parser("profile", help="parameters and multiply-adds of a model",
                              description="Count parameters and MACs of one model for one clip, on the "
                                          "meta device (no memory, no weights).")
    p.add_argument("name", metavar="NAME", help="model name, e.g. TAM-ResNet50-f8")
    p.add_argument("--classes", type=int, required=True, metavar="N", help="number of classes")
    p.add_argument("--size", type=_frame_size, default=(224, 224), metavar="S|HxW",
                   help="frame height and width: one number for a square, or HEIGHTxWIDTH (default 224)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a build option that changes the structure, as a run's model_options "
                        "(e.g. tam_placement=top-half); repeatable")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_profile)
