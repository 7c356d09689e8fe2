"""The ``finemotor`` command: one sub-command per module in this package.

Each sub-command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed namespace and returning the exit code. Only the module
of the command being run is imported (``finemotor --help`` imports none): the others are
listed from :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from finemotor.crashlog import log_crash
from finemotor.errors import FinemotorError, RecordingError


@dataclass(frozen=True)
class Command:
    """A sub-command: the module (in this package) that registers it, and its one-line help."""

    module: str
    help: str


# In the order `finemotor --help` lists them.
COMMANDS: dict[str, Command] = {
    "session": Command(
        "session", "run a session: this desk's kits, recorded, with the therapist's view"
    ),
    "desk": Command(
        "desk_app", "the desk app: pair, check and run a session from a page, no terminal"
    ),
    "demo": Command("demo", "run the simulated stylus and grip dynamometer end to end"),
    "scan": Command("scan", "list the kits in range"),
    "pair": Command("pair", "pair with a kit (press the kit's button first)"),
    "identify": Command("pair", "blink a kit's light, to tell which kit is which"),
    "info": Command("info", "library and protocol version"),
    "analyze": Command("analyze", "metrics of a force recording from a CSV file"),
    "calibrate": Command(
        "calibrate", "calibrate a kit with weights, fit points, check with one weight"
    ),
    "relay": Command("relay", "run a relay between students' hosts and therapists' browsers"),
    "loadtest": Command(
        "loadtest", "load relays with replayed sessions and viewers; delivery, latency, CPU"
    ),
    "server": Command(
        "server", "run the server (accounts, desks, sessions, relay) and its admin commands"
    ),
    "sessions": Command("sessions", "list the recorded sessions (and their upload state)"),
    "enrol": Command("enrol", "enrol this desk with the school's server (once, with a code)"),
    "sync": Command("sync", "upload this desk's recorded sessions to its server"),
    "export": Command("export", "export a recorded session as CSV or JSON"),
    "report": Command("report", "draw a recorded session's report (force graphs, metrics, trials)"),
    "progress": Command(
        "progress", "a student's progress across sessions (grip peak, pen CV, endurance) vs goals"
    ),
    "goal": Command("goal", "set a student's goal on a metric, or list the goals"),
    "flash": Command("flash", "put the firmware on a kit (USB cable)"),
    "doctor": Command("doctor", "check this computer is ready for the kit"),
}


def command_help(name: str) -> str:
    """The one-line help of sub-command ``name`` (its modules use it when they register)."""
    return COMMANDS[name].help


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser: ``command``'s module registers its own parser(s); the other
    commands are listed by name and help without importing their modules."""
    parser = argparse.ArgumentParser(
        prog="finemotor",
        description="Fine-motor sensor kit: stylus and grip dynamometer.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = COMMANDS[command].module if command in COMMANDS else None
    registered: set[str] = set()
    for name, cmd in COMMANDS.items():
        if cmd.module != wanted:
            sub.add_parser(name, help=cmd.help, add_help=False)
        elif cmd.module not in registered:
            importlib.import_module(f"finemotor.cli.{cmd.module}").register(sub)
            registered.add(cmd.module)
    return parser


ANOTHER_FILE = frozenset({"locked", "cannot_open", "corrupt", "missing"})
"""The :class:`~finemotor.errors.RecordingError` reasons whose message ends by advising another
file: a command with ``--db`` adds that flag to it."""


def flag_hint(exc: FinemotorError, args: argparse.Namespace) -> str:
    """What to add to a library error's message: the flag of this command that does what it
    advises ("" if none)."""
    if not (isinstance(exc, RecordingError) and exc.reason in ANOTHER_FILE and "db" in vars(args)):
        return ""
    from finemotor.recording import default_db_path  # numpy: imported only on such an error

    db = args.db if args.db is not None else default_db_path()
    return " (--db FILE)" if Path(exc.path) == Path(db) else ""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_in if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(args_in)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code: int = func(args)
    except FinemotorError as exc:
        print(f"finemotor {args.command}: {exc}{flag_hint(exc, args)}", file=sys.stderr)
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
