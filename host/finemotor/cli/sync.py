"""``finemotor sync``: upload this desk's recorded sessions to its server."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from finemotor.cli import command_help
from finemotor.errors import FinemotorError, SyncError


def register(sub: Any) -> None:
    """Add the ``sync`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "sync",
        help=command_help("sync"),
        description=(
            "Uploads every session recorded at this desk that the server does not have yet, "
            "resuming where an earlier upload stopped. Nothing is removed from this computer."
        ),
    )
    p.add_argument("--db", type=Path, default=None, help="the database (default: data directory)")
    p.add_argument("--json", action="store_true", help="print each session's state as JSON")
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to keep retrying a server that does not answer (default 60)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Upload; 0 when every session is on the server, 1 otherwise."""
    from finemotor.sync.credential import load_credential
    from finemotor.sync.uploader import Uploader, upload_states

    cred = load_credential()
    if cred is None:
        raise FinemotorError(
            "this desk is not enrolled with a server: run finemotor enrol --server URL --code "
            "CODE first (the server's admin gives you the code)"
        )
    say = (lambda _m: None) if args.json else (lambda m: print(m, flush=True))
    uploader = Uploader(cred, args.db, deadline_s=args.timeout, progress=say)
    failure: SyncError | None = None
    try:
        asyncio.run(uploader.sync())
    except SyncError as exc:
        failure = exc
    states = list(upload_states(uploader.db).values())
    if args.json:
        print(json.dumps([dataclasses.asdict(s) for s in states]))
    else:
        for s in states:
            extra = f": {s.problem}" if s.problem and s.state != "complete" else ""
            print(f"{s.session:>4}  {s.student:<12} {_words(s.state)}{extra}")
    if failure is not None:
        print(f"finemotor sync: {failure}", file=sys.stderr)
        return 1
    return 0 if all(s.state == "complete" for s in states) else 1


def _words(state: str) -> str:
    return {
        "recorded": "recorded here, not uploaded yet",
        "uploading": "uploading (partly on the server)",
        "complete": "on the server",
        "not_on_caseload": "not uploaded: the student is not on a caseload at this school",
    }.get(state, state)
