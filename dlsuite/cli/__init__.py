"""The `dlsuite` console script: the top layer, which only parses arguments.

Each subcommand lives in its own module, which exposes ``register(subparsers)``. That function adds
an ``argparse`` sub-parser and sets ``func`` (called with the parsed namespace, returning an exit
code), which calls one library function of `dlsuite.apps` or `dlsuite.serving` and prints its
result. Command modules import TensorFlow inside ``func`` only, so ``dlsuite --help`` stays fast.
``demo`` is ``make demo``: the commands a user types, one after another.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# Modules that define subcommands, in the order `dlsuite --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "dlsuite.cli.runs",
    "dlsuite.cli.launch",
    "dlsuite.cli.k8s",
    "dlsuite.cli.manifest",
    "dlsuite.cli.convert",
    "dlsuite.cli.detect_mark",
    "dlsuite.cli.c2pa",
    "dlsuite.cli.serve",
    "dlsuite.cli.predict",
    "dlsuite.cli.play",
    "dlsuite.cli.study",
    "dlsuite.cli.tfserving_config",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the full `dlsuite` argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="dlsuite",
        description=(
            "Train, evaluate, export, convert and serve TensorFlow/Keras models. "
            "Run `dlsuite <command> --help` for the options of one command."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the process exit code."""
    # Quieter TensorFlow C++ logs unless the user asked for them.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader that has gone (`dlsuite ... | head`) shows here, not at exit
        return code
    except BrokenPipeError:
        # Python's documented way out: what is left to print goes nowhere, and no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as err:
        # Bad input from the user: one clear line, no traceback.
        print(f"dlsuite {args.command}: error: {err}", file=sys.stderr)
        return 2
