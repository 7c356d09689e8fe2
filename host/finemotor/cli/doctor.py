"""``finemotor doctor``: is this computer ready for the kit?"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from finemotor.cli import command_help

if TYPE_CHECKING:
    from finemotor.doctor import Check, System


def register(sub: Any) -> None:
    """Add the ``doctor`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "doctor",
        help=command_help("doctor"),
        description=(
            "Checks Bluetooth, the Python packages, the recording folder and the USB serial "
            "port permission, and says how to fix each problem. Exit code 0 if all is well."
        ),
    )
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=run, system=None)


def render(checks: list[Check]) -> str:
    """The checks as lines for a person: one per check, a ``fix:`` line under each problem."""
    from finemotor.doctor import NOTE, OK

    marks = {OK: "ok       ", NOTE: "note     "}
    lines = []
    for c in checks:
        lines.append(f"{marks.get(c.status, 'PROBLEM  ')}{c.title}: {c.detail}")
        if c.fix and c.status != OK:
            lines.append(f"         fix: {c.fix}")
    problems = sum(not c.ok for c in checks)
    lines.append(
        "All set: this computer is ready for the kit."
        if not problems
        else f"{problems} problem(s) to fix; run finemotor doctor again afterwards."
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the checks; 0 if none found a problem, 1 otherwise."""
    from finemotor.doctor import System, run_checks, to_json

    system: System = args.system or System()
    checks = run_checks(system)
    print(to_json(checks, system) if args.json else render(checks))
    return 0 if all(c.ok for c in checks) else 1
