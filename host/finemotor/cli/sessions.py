"""``finemotor sessions``: the recorded sessions."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from finemotor.recording import Recording, default_db_path


def register(sub: Any) -> None:
    """Add the ``sessions`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "sessions",
        help="list the recorded sessions",
        description="Lists the sessions in the recording database, oldest first.",
    )
    p.add_argument("--db", type=Path, default=None, help="the database (default: data directory)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the sessions; 0."""
    path = args.db or default_db_path()
    if not path.exists():
        sessions = []
    else:
        with Recording(path) as rec:
            sessions = rec.list_sessions()
    if args.json:
        print(json.dumps([dataclasses.asdict(s) for s in sessions]))
        return 0
    if not sessions:
        print(f"no sessions recorded in {path}")
        return 0
    for s in sessions:
        start = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.started_at))
        ended = f"{s.ended_at - s.started_at:.0f} s" if s.ended_at is not None else "interrupted"
        samples = ", ".join(f"{d} {n}" for d, n in s.samples.items()) or "no samples"
        print(f"{s.id:>4}  {start}  {s.student:<12} {ended:>12}  {samples}")
    return 0
