"""``finemotor desk``: the facilitator's desk app, a page on this computer that pairs the kits,
checks them and runs a session, without a terminal.

It serves the page on 127.0.0.1 (a free port, a secret path made for this run) and opens it in
the browser. Closing the page stops nothing: open the link again. Ctrl-C here ends a running
session cleanly, with everything recorded, and prints its summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import webbrowser
from pathlib import Path
from typing import Any

from finemotor.cli import command_help
from finemotor.errors import FinemotorError
from finemotor.samples import DEVICE_KINDS


def register(sub: Any) -> None:
    """Add the ``desk`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "desk",
        help=command_help("desk"),
        description=(
            "Opens the desk app in the browser: pair this desk's kits, check them, choose the "
            "student and run the session with big buttons. Closing the page does not stop a "
            "session; press Ctrl-C here to end it and quit."
        ),
    )
    p.add_argument("--no-browser", action="store_true", help="print the page's link instead")
    p.add_argument("--relay", default=None, help="the relay URL the therapist's link uses")
    p.add_argument("--no-view", action="store_true", help="do not publish the therapist view")
    p.add_argument("--db", type=Path, default=None, help="the recording database")
    p.add_argument("--desk", type=Path, default=None, help="this desk's kit list (kits.json)")
    p.add_argument(
        "--tasks", type=Path, default=None, help="the planned tasks: a text file, one per line"
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to find each kit")
    p.add_argument(
        "--button-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for a kit's button when pairing",
    )
    p.add_argument("--sim", action="store_true", help="simulated kits on a virtual radio")
    p.add_argument("--seed", type=int, default=1, help="seeds the simulated kits")
    p.add_argument(
        "--sim-away",
        action="append",
        default=[],
        choices=DEVICE_KINDS,
        help="with --sim: this simulated kit is switched off (out of range); repeatable",
    )
    p.add_argument(
        "--sim-flat",
        action="append",
        default=[],
        choices=DEVICE_KINDS,
        help="with --sim: this simulated kit's battery is flat; repeatable",
    )
    p.set_defaults(func=run)


def _tasks(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FinemotorError(f"--tasks {path}: cannot be read ({exc})") from exc
    tasks = [line.strip()[:200] for line in lines if line.strip()]
    if not tasks:
        raise FinemotorError(f"--tasks {path}: no tasks in it (one task per line)")
    return tasks


async def _serve(args: argparse.Namespace) -> int:
    from finemotor.aio import wait_event
    from finemotor.cli.session import print_summary
    from finemotor.deskapp import DEFAULT_TASKS, DeskApp, DeskAppOptions
    from finemotor.radio import FLAT_MV, open_radio
    from finemotor.recording import default_db_path
    from finemotor.sync.credential import load_credential

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    opts = DeskAppOptions(
        db=args.db or default_db_path(),
        relay_url=args.relay,
        view=not args.no_view,
        credential=load_credential(),
        timeout=args.timeout,
        button_timeout=args.button_timeout,
        tasks=_tasks(args.tasks) or DEFAULT_TASKS,
        desk=args.desk,
    )
    flat = {kind: FLAT_MV for kind in args.sim_flat}
    async with open_radio(args.sim, args.seed, away=args.sim_away, battery_mv=flat) as radio:
        app = DeskApp(radio, opts)
        url = await app.start()
        print(f"The desk app is at {url}", flush=True)
        print("(keep this window open; press Ctrl-C here to end and quit)", flush=True)
        if not args.no_browser and not webbrowser.open(url):
            print("Open that link in your browser.", flush=True)
        try:
            while not stop.is_set():
                await wait_event(stop, 1.0)
        except asyncio.CancelledError:  # Ctrl-C where signal handlers are not available
            pass
        print("Ending...", flush=True)
        summary = await app.close()
    if summary is not None:
        print_summary(summary)
        return 1 if summary.recording_problem else 0
    return 0


def run(args: argparse.Namespace) -> int:
    """Serve the desk app until Ctrl-C; 0 unless a session's recording had a problem."""
    if (args.sim_away or args.sim_flat) and not args.sim:
        raise FinemotorError("--sim-away and --sim-flat are for simulated kits: add --sim")
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        print("\nfinemotor desk: interrupted", file=sys.stderr)
        return 130
