"""``finemotor sessions``: the recorded sessions."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from finemotor.cli import command_help
from finemotor.errors import FinemotorError

_UPLOAD_WORDS = {
    "recorded": "recorded here",
    "uploading": "uploading",
    "complete": "on the server",
    "not_on_caseload": "not uploaded: student not on a caseload here",
}


def register(sub: Any) -> None:
    """Add the ``sessions`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "sessions",
        help=command_help("sessions"),
        description="Lists the sessions in the recording database, oldest first.",
    )
    p.add_argument("--db", type=Path, default=None, help="the database (default: data directory)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.add_argument(
        "--delete",
        type=int,
        metavar="SESSION",
        default=None,
        help="delete this session and everything recorded with it (asks first unless --yes)",
    )
    p.add_argument("--yes", action="store_true", help="do not ask before deleting")
    p.add_argument(
        "--not-uploaded-ok",
        action="store_true",
        help="delete even if this enrolled desk has not uploaded the session to its server",
    )
    p.set_defaults(func=run)


def _delete(path: Path, session: int, yes: bool, not_uploaded_ok: bool) -> int:
    from finemotor.recording import Recording, delete_session
    from finemotor.sync.credential import load_credential
    from finemotor.sync.uploader import upload_states

    with Recording(path) as rec:
        info = rec.session(session)
    state = upload_states(path).get(session)
    if (
        load_credential() is not None
        and state is not None
        and state.state != "complete"
        and not not_uploaded_ok
    ):
        raise FinemotorError(
            f"session {session} is not on the server yet ({_UPLOAD_WORDS[state.state]}): run "
            "finemotor sync first, or add --not-uploaded-ok to delete it anyway"
        )
    if not yes:
        if not sys.stdin.isatty():
            raise FinemotorError("deleting cannot be undone: add --yes to confirm")
        answer = input(
            f"Delete session {session} of student {info.student} and all its samples? "
            "This cannot be undone. [y/n] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    delete_session(path, session)
    print(
        f"deleted session {session} (student {info.student}). Exports and backups made before "
        "are not touched: delete them too if needed"
    )
    return 0


def _marks(rec: Any, session: int) -> list[str]:
    """The texts of a session's marked events, once each (a mark is recorded per device)."""
    seen: dict[str, str] = {}
    for event in rec.events(session, "mark"):
        data = event.data if isinstance(event.data, dict) else {}
        key = str(data.get("id") or len(seen))
        seen.setdefault(key, str(data.get("text", data.get("label", ""))))
    return list(seen.values())


def run(args: argparse.Namespace) -> int:
    """Print the sessions (or delete one); 0."""
    from finemotor.recording import Recording, default_db_path
    from finemotor.sync.credential import load_credential
    from finemotor.sync.uploader import upload_states

    path = args.db or default_db_path()
    if args.delete is not None:
        return _delete(path, args.delete, args.yes, args.not_uploaded_ok)
    if not path.exists():
        sessions = []
        marks: dict[int, list[str]] = {}
    else:
        with Recording(path) as rec:
            sessions = rec.list_sessions()
            marks = {s.id: _marks(rec, s.id) for s in sessions} if args.json else {}
    enrolled = load_credential() is not None
    states = upload_states(path) if enrolled and sessions else {}
    if args.json:
        out = []
        for s in sessions:
            entry = dataclasses.asdict(s)
            entry["marks"] = marks.get(s.id, [])
            if enrolled:
                entry["upload"] = states[s.id].state if s.id in states else "recorded"
            out.append(entry)
        print(json.dumps(out))
        return 0
    if not sessions:
        print(f"no sessions recorded in {path}")
        return 0
    for s in sessions:
        start = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.started_at))
        ended = f"{s.ended_at - s.started_at:.0f} s" if s.ended_at is not None else "interrupted"
        samples = ", ".join(f"{d} {n}" for d, n in s.samples.items()) or "no samples"
        upload = ""
        if enrolled:
            upload = "  " + _UPLOAD_WORDS[states[s.id].state if s.id in states else "recorded"]
        print(f"{s.id:>4}  {start}  {s.student:<12} {ended:>12}  {samples}{upload}")
    return 0
