"""The ``stbench`` command line.

Each layer contributes its sub-commands from its own module in this package: a module listed in
``COMMAND_MODULES`` defines ``register(subparsers)``, adds its parsers there and sets
``func`` (called with the parsed args, returns an exit code) as a parser default.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from benchmark import __version__
from benchmark.errors import StbenchError

COMMAND_MODULES = ("models", "weights", "data", "engine", "bench", "grid", "analysis", "quickstart")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stbench",
        description="Fair-comparison benchmarking of spatio-temporal CNNs for action recognition.",
    )
    parser.add_argument("--version", action="version", version=f"stbench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"benchmark.cli.{name}")
        except ModuleNotFoundError as exc:
            # Tolerate a layer that is not installed in this checkout; never hide its own import errors.
            if exc.name != f"benchmark.cli.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except StbenchError as exc:
        # User errors (bad config, bad data, bad name) get one clear line, not a traceback.
        print(f"stbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
