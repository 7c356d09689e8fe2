"""The ``finemotor`` command: one sub-command per module in this package.

Each sub-command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed namespace and returning the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from finemotor.crashlog import log_crash
from finemotor.errors import FinemotorError

# Sub-command modules, in the order `finemotor --help` lists them.
COMMANDS: tuple[str, ...] = (
    "session",
    "demo",
    "scan",
    "pair",
    "info",
    "analyze",
    "calibrate",
    "relay",
    "sessions",
    "export",
    "report",
    "progress",
    "goal",
    "flash",
    "doctor",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="finemotor",
        description="Fine-motor sensor kit: stylus and grip dynamometer.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"finemotor.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code: int = func(args)
    except FinemotorError as exc:
        print(f"finemotor {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a defect: one sentence here, the details in the log
        where = log_crash(str(args.command), exc)
        details = f"the details are in {where}" if where else "the details could not be saved"
        print(
            f"finemotor {args.command}: something unexpected went wrong ({type(exc).__name__}); "
            f"{details}: please send that file to whoever supports your kit",
            file=sys.stderr,
        )
        return 1
    return code
