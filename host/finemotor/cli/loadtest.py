"""``finemotor loadtest``: load the relay tier with replayed sessions and watching viewers."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from finemotor.cli import command_help
from finemotor.errors import FinemotorError

JSON_KEYS = (
    "servers, sessions, viewers_per_session, seconds, replayed, publishers_connected, "
    "viewers_connected, frames_sent, other_frames_sent, frames_unsent, frames_delivered, "
    "frames_expected, delivery_pct, relay_dropped, latency {p50_ms, p95_ms, p99_ms, max_ms}, "
    "publisher_reconnects, viewer_reconnects, refused {HTTP status or 'close 1013': count}, "
    "connect_errors, server_cpu [{server, pids, cpu_s, note}], loadtest_cpu_s"
)


def register(sub: Any) -> None:
    """Add the ``loadtest`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "loadtest",
        help=command_help("loadtest"),
        description=(
            "Opens N publishers and V viewers per session on running relays (finemotor relay) "
            "or servers (finemotor server run), spread over the given servers so that a "
            "session's viewers are on other servers than its publisher. Each publisher "
            "replays a recorded session at its real rate: the frames the desk would send for "
            "it (hello, display traces, metric tiles, status). Without --recording, a "
            "simulated session (stylus and grip, 60 s, the simulated student's forces "
            "recorded once into the user's cache directory) is replayed. Prints the data "
            "frames sent and delivered, the publisher-to-viewer latency, reconnects, refused "
            "connections and each server process's CPU time. Only servers on this computer "
            "(loopback addresses) are loaded unless --i-own-these-servers is given."
        ),
        epilog=f"--json prints one object with the keys: {JSON_KEYS}.",
    )
    p.add_argument(
        "--server",
        required=True,
        help="the servers' URLs, comma-separated (e.g. http://127.0.0.1:8765,http://127.0.0.1:8766)",
    )
    p.add_argument("--sessions", type=int, default=10, help="publishers (default 10)")
    p.add_argument(
        "--viewers-per-session", type=int, default=2, help="viewers of each session (default 2)"
    )
    p.add_argument("--seconds", type=float, default=30.0, help="seconds of replay (default 30)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument(
        "--recording",
        type=Path,
        default=None,
        help="a recording database to replay (its latest session; default: a simulated one)",
    )
    p.add_argument(
        "--recording-session",
        type=int,
        default=None,
        help="the session of --recording to replay (default: its latest)",
    )
    p.add_argument(
        "--desk",
        type=Path,
        default=None,
        help="an enrolled desk's server.json: publish as that desk, for its students "
        "(needed by finemotor server run)",
    )
    p.add_argument(
        "--i-own-these-servers",
        action="store_true",
        help="allow servers that are not on this computer (only servers you run yourself)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the load test; 0 when it ran (whatever it measured)."""
    from finemotor.loadtest import LoadOptions, format_result, run_loadtest

    servers = tuple(s.strip() for s in args.server.split(",") if s.strip())
    if args.sessions < 1 or args.viewers_per_session < 0 or args.seconds <= 0:
        raise FinemotorError(
            "give --sessions 1 or more, --viewers-per-session 0 or more and --seconds above 0"
        )
    options = LoadOptions(
        servers,
        sessions=args.sessions,
        viewers_per_session=args.viewers_per_session,
        seconds=args.seconds,
        recording=args.recording,
        recording_session=args.recording_session,
        desk=args.desk,
        i_own_these_servers=args.i_own_these_servers,
    )
    result = asyncio.run(run_loadtest(options))
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(format_result(result))
    return 0
