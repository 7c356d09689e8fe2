"""``finemotor flash``: put the firmware on a kit through its USB cable."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finemotor.cli import command_help
from finemotor.samples import DEVICE_KINDS

if TYPE_CHECKING:
    from finemotor.progress import Progress


def register(sub: Any) -> None:
    """Add the ``flash`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "flash",
        help=command_help("flash"),
        description=(
            "Copies the stylus or grip firmware onto a kit running MicroPython, through its "
            "USB cable, sets its kit id, checks what was copied and restarts the kit. The "
            "kit's calibration is kept."
        ),
    )
    p.add_argument("kind", choices=DEVICE_KINDS, help="which kit this is")
    p.add_argument(
        "--port",
        default=None,
        help="the kit's serial port, e.g. /dev/ttyACM0, /dev/cu.usbmodem1101, COM3 "
        "(without it: list the ports)",
    )
    p.add_argument(
        "--kit-id",
        default=None,
        help="the 6 hex digits on the kit's label, e.g. 1A2B3C (default: keep the kit's own)",
    )
    p.add_argument(
        "--change-kind",
        action="store_true",
        help="flash a kit that has the other kind's firmware",
    )
    p.add_argument("--firmware", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Flash the kit; 0 when it is done and checked, 1 (an error) otherwise."""
    from finemotor.flash import available_ports, build_plan, flash, normalize_kit_id
    from finemotor.progress import Progress

    kit_id = normalize_kit_id(args.kit_id) if args.kit_id is not None else None
    if args.port is None:
        ports = available_ports()
        print(
            "Give the kit's port with --port. "
            + ("Serial ports now: " + ", ".join(ports) if ports else "No serial ports found: ")
            + ("" if ports else "plug the kit in with a USB data cable."),
            file=sys.stderr,
        )
        return 2
    plan = build_plan(args.kind, args.firmware)
    bar: Progress | None = None

    def on_progress(done: int, total: int, name: str) -> None:
        nonlocal bar
        if bar is None:
            bar = Progress(total, f"flashing {args.kind}", enabled=not args.json)
        bar.advance(done - bar.done, name)

    try:
        result = flash(
            args.port,
            args.kind,
            kit_id,
            plan=plan,
            change_kind=args.change_kind,
            on_progress=on_progress,
        )
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(dataclasses.asdict(result)))
        return 0
    how = {"given": "set", "kept": "kept", "chip": "from its chip"}[result.kit_id_source]
    print(
        f"{result.kind} flashed on {result.port} in {result.seconds:.1f} s: "
        f"{len(result.written)} file(s) copied, {len(result.unchanged)} already right, "
        f"{len(result.removed)} old removed; all checked."
    )
    print(f"kit id {result.kit_id} ({how}): the kit's label must say {result.kit_id}.")
    for w in result.warnings:
        print(f"note: {w}")
    print("The kit has restarted with its new firmware.")
    return 0
