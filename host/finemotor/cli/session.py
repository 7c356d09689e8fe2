"""``finemotor session``: the facilitator's command, from pairing to the summary.

It finds this desk's kits (or leads the facilitator through pairing them), checks their
battery and calibration, connects, records every sample, forwards the therapist's view, shows
a live status line, and ends cleanly on Ctrl-C with a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from finemotor.cli import command_help
from finemotor.cli._radio import Radio, open_radio
from finemotor.errors import FinemotorError
from finemotor.student import student_id_problem

if TYPE_CHECKING:
    from finemotor.kitlink import KitLink
    from finemotor.preflight import Flag
    from finemotor.replay import ReplayLink
    from finemotor.session import SessionRunner, SessionStatus, SessionSummary

KINDS = ("stylus", "grip")


def register(sub: Any) -> None:
    """Add the ``session`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "session",
        help=command_help("session"),
        description=(
            "Finds this desk's paired kits (or leads you through pairing them), checks their "
            "battery and calibration, records the session and shows the therapist's link. "
            "Press Ctrl-C to end the session."
        ),
    )
    p.add_argument("--student", required=True, help="the student's pseudonymous id (no names)")
    p.add_argument(
        "--kit",
        action="append",
        default=[],
        metavar="ID",
        help="use the kit with this id (on its label) instead of this desk's; repeatable",
    )
    p.add_argument(
        "--devices",
        default="stylus,grip",
        help="which kits this session uses: stylus, grip or stylus,grip (default)",
    )
    p.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="URL",
        help="record from sim://…, serial://…, ble://… or replay://SESSION/DEVICE instead",
    )
    p.add_argument("--relay", default=None, help="the relay URL the therapist's link uses")
    p.add_argument("--no-view", action="store_true", help="do not publish the therapist view")
    p.add_argument("--open", action="store_true", help="open the therapist's link here too")
    p.add_argument("--seconds", type=float, default=None, help="end by itself after N seconds")
    p.add_argument("--note", default="", help="a note stored with the session (no names)")
    p.add_argument("--db", type=Path, default=None, help="the recording database")
    p.add_argument("--desk", type=Path, default=None, help="this desk's kit list (kits.json)")
    p.add_argument("--anyway", action="store_true", help="start despite battery/calibration")
    p.add_argument("--yes", action="store_true", help="answer yes to the pairing question")
    p.add_argument("--sim", action="store_true", help="simulated kits on a virtual radio")
    p.add_argument("--seed", type=int, default=1, help="seeds the simulated kits")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to find each kit")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=run)


class _Console:
    """What the facilitator sees: lines, questions, and the live status line."""

    def __init__(self, quiet: bool, yes: bool) -> None:
        self.quiet = quiet
        self.yes = yes
        self.tty = sys.stdout.isatty()
        self._last_plain = -1e9
        self._open_line = False

    def say(self, msg: str) -> None:
        if self.quiet:
            return
        if self._open_line:
            print()
            self._open_line = False
        print(msg, flush=True)

    async def confirm(self, question: str) -> bool:
        if self.yes:
            self.say(question + "y (--yes)")
            return True
        if not sys.stdin.isatty():
            raise FinemotorError(
                f"{question.strip()} — cannot ask: not at a terminal. Run it at a terminal, or "
                "add --yes"
            )
        answer = await asyncio.to_thread(input, question)
        return answer.strip().lower() in ("y", "yes")

    def status(self, st: SessionStatus) -> None:
        if self.quiet:
            return
        line = status_line(st)
        if self.tty:
            print("\r" + line.ljust(100), end="", flush=True)
            self._open_line = True
        elif st.elapsed_s - self._last_plain >= 10.0 or st.recording_problem:
            self._last_plain = st.elapsed_s
            print(line, flush=True)


def status_line(st: SessionStatus) -> str:
    """The live status: time, each kit's connection, battery and samples, saving, whether
    the therapist is watching."""
    m, s = divmod(int(st.elapsed_s), 60)
    parts = [f"{m:02d}:{s:02d}"]
    for d in st.devices:
        state = "connected" if d.connected else "RECONNECTING"
        battery = f", battery {d.battery_percent} %" if d.battery_percent is not None else ""
        lost = f", {d.lost} lost" if d.lost else ""
        parts.append(f"{d.name} {state}{battery}, {d.samples} samples{lost}")
    if st.recording_problem:
        parts.append(f"NOT SAVING: {st.recording_problem}")
    elif st.saved_ago_s is not None:
        parts.append(f"saved {st.saved_ago_s:.1f} s ago")
    if st.marks:
        parts.append(f"{st.marks} marked")
    if st.view_problem:
        parts.append(f"therapist view: {st.view_problem}")
    elif st.watching:
        parts.append("therapist watching")
    return " | ".join(parts)


def _kinds(text: str) -> list[str]:
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise FinemotorError(f"--devices {text!r}: use stylus, grip or stylus,grip")
    return kinds


async def _open_kits(
    args: argparse.Namespace,
    radio: Radio,
    stack: contextlib.AsyncExitStack,
    con: _Console,
    runner: SessionRunner,
) -> dict[str, tuple[KitLink | ReplayLink, str]]:
    """Open every kit of the session, each streaming into ``runner``: key -> (link, kit id)."""
    from finemotor.desk import Desk
    from finemotor.pairing import pair_at_desk
    from finemotor.source import open_link
    from finemotor.transport.scan import scan_kits

    opened: dict[str, tuple[KitLink | ReplayLink, str]] = {}
    if args.source:
        for url in args.source:
            name = url
            if name.startswith("replay:") and "db=" not in name:  # this session's file
                name += ("&" if "?" in name else "?") + urlencode({"db": str(args.db)})
            link = await stack.enter_async_context(
                open_link(name, runner.consumer(url), args.timeout)
            )
            opened[url] = (link, "")
        return opened
    from finemotor.connect import connect_kits

    wanted: list[tuple[str, str | None]] = [(k.upper(), None) for k in args.kit]
    desk = Desk(args.desk)
    if not wanted:
        kinds = _kinds(args.devices)
        if any(desk.kit_for(kind) is None for kind in kinds):
            # Before asking anyone to press a button: is this computer's Bluetooth there?
            await scan_kits(0.2, backend=radio.scanner_backend)
        for kind in kinds:
            kit = desk.kit_for(kind)
            if kit is None:
                con.say(f"No {kind} is paired with this computer yet.")
                kit = await pair_at_desk(
                    kind,
                    desk,
                    con.say,
                    con.confirm,
                    radio.scanner_backend,
                    radio.client_backend,
                    radio.press_kind if radio.sims else None,
                )
            wanted.append((kit.kit_id, kind))
    links = await connect_kits(wanted, radio, runner.consumer, con.say, args.timeout, desk.known())
    for kit_id, link in links.items():
        stack.push_async_callback(link.close)
        opened[kit_id] = (link, kit_id)
    return opened


async def _preflight(
    opened: dict[str, tuple[KitLink | ReplayLink, str]],
    args: argparse.Namespace,
    con: _Console,
) -> list[Flag]:
    from finemotor.preflight import check_kit
    from finemotor.replay import ReplayLink

    flags: list[Flag] = []
    for link, kit_id in opened.values():
        if isinstance(link, ReplayLink) or link.info is None:
            continue  # a recording is checked as it was recorded
        flags += check_kit(link.info.layout.kind, kit_id, link.status, link.calibration)
    for flag in flags:
        con.say(("STOP: " if flag.blocks else "Note: ") + flag.message)
    blocking = [f for f in flags if f.blocks]
    if blocking and not args.anyway:
        if con.yes or not sys.stdin.isatty():
            raise FinemotorError(
                "the session did not start (see above); nothing was recorded. Fix what is "
                "listed, or start anyway with --anyway (the problem is then noted in the "
                "recording and its report)"
            )
        if not await con.confirm(
            "Start the session anyway? It will be noted in the record. [y/n] "
        ):
            raise FinemotorError("the session did not start; nothing was recorded")
    return flags


async def _session(args: argparse.Namespace, con: _Console) -> SessionSummary:
    from finemotor.aio import wait_event
    from finemotor.replay import ReplayLink
    from finemotor.session import SessionOptions, SessionRunner
    from finemotor.sync.credential import load_credential

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    runner = SessionRunner(
        SessionOptions(
            student=args.student,
            db=args.db,
            relay_url=args.relay,
            view=not args.no_view,
            note=args.note,
            desk=load_credential(),
        )
    )
    async with (
        open_radio(args.sim and not args.source, args.seed) as radio,
        contextlib.AsyncExitStack() as stack,
    ):
        opened = await _open_kits(args, radio, stack, con, runner)
        runner.opts.accepted_flags = await _preflight(opened, args, con)
        stack.push_async_callback(runner.aclose)  # a failure before finish: close, keep all
        await runner.start({key: link for key, (link, _kit_id) in opened.items()})
        assert runner.recorder is not None
        con.say(
            f"Recording session {runner.recorder.session_id} for student {args.student} "
            f"into {runner.recorder.path}."
        )
        _show_link(runner.view_url, args, con, runner.opts.desk is not None)
        con.say("Press Ctrl-C to end the session.")
        t0 = time.monotonic()
        replays = [link for link, _kit_id in opened.values() if isinstance(link, ReplayLink)]
        try:
            while not stop.is_set():
                await wait_event(stop, 1.0)
                con.status(runner.tick())
                if args.seconds is not None and time.monotonic() - t0 >= args.seconds:
                    break
                if replays and all(r.done.is_set() for r in replays):
                    break
        except asyncio.CancelledError:  # Ctrl-C where signal handlers are not available
            pass
        con.say("Ending the session...")
        return await runner.finish()


def _show_link(url: str | None, args: argparse.Namespace, con: _Console, desk: bool) -> None:
    if url is None:
        return
    if desk and args.relay is None:
        con.say("The therapist sees this session live in her workspace on the school's server.")
        con.say(f"Link for a guest: {url}")
    else:
        con.say(f"Therapist's link: {url}")
    if args.relay is None and not desk:
        con.say(
            "  (this link works on this computer only: for a therapist elsewhere, start the "
            "session with --relay and your school's relay address)"
        )
    if args.open:
        webbrowser.open(url)


def print_summary(s: SessionSummary) -> None:
    from finemotor.session import DESK_MARK_PREFIX

    m, sec = divmod(int(s.seconds), 60)
    print(f"Session {s.session_id} ended after {m} min {sec:02d} s (student {s.student}).")
    for name, d in s.devices.items():
        extra = []
        if d.get("lost"):
            extra.append(f"{d['lost']} lost")
        if d.get("reconnects"):
            extra.append(f"{d['reconnects']} reconnection(s)")
        tail = f" ({', '.join(extra)})" if extra else ", none lost"
        print(f"  {name}: {d['samples_recorded']} samples recorded{tail}")
    if s.marks:
        at_desk = sum(1 for m in s.marks if str(m.get("id", "")).startswith(DESK_MARK_PREFIX))
        if len(s.marks) > at_desk:
            print(f"  {len(s.marks) - at_desk} event(s) marked by the therapist")
        if at_desk:
            print(f"  {at_desk} task(s) marked at the desk")
    for flag in s.flags:
        print(f"  noted: {flag.message}")
    if s.recording_problem:
        print(f"  WARNING: {s.recording_problem}")
    print(f"Saved in {s.db}. Report: finemotor report {s.session_id}")
    if s.upload is not None:
        print(f"Server: {s.upload}")


def run(args: argparse.Namespace) -> int:
    """Run a session; 0 when it was recorded."""
    from finemotor.metrics.results import to_jsonable
    from finemotor.recording import default_db_path

    problem = student_id_problem(args.student)
    if problem is not None:  # before any kit is paired or anything recorded
        raise FinemotorError(f"--student {problem}")
    if args.db is None:
        args.db = default_db_path()
    con = _Console(quiet=args.json, yes=args.yes or args.sim)
    try:
        summary = asyncio.run(_session(args, con))
    except KeyboardInterrupt:
        print("\nfinemotor session: interrupted before the session started", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(to_jsonable(summary)))
    else:
        if con.tty:
            print()
        print_summary(summary)
    return 1 if summary.recording_problem else 0
