"""SQLite's errors turned into a :class:`~finemotor.errors.RecordingError` that says what is
wrong and what to do.

The messages name no command-line flag: where they advise another file, the command line adds
how to choose one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from finemotor.errors import RecordingError


def sqlite_failure(path: Path, exc: sqlite3.Error, doing: str) -> RecordingError:
    """``exc``, raised on the database ``path`` while ``doing`` something, as a
    :class:`~finemotor.errors.RecordingError` (its reason: ``"locked"``, ``"full"``,
    ``"corrupt"``, ``"cannot_open"`` or ``"sqlite"``)."""
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return RecordingError(
            str(path),
            "locked",
            f"the database is locked while {doing}: another finemotor may be using it; "
            "close it and try again, or record into another file",
        )
    if name.startswith("SQLITE_FULL") or "disk is full" in str(exc):
        return RecordingError(
            str(path),
            "full",
            f"the disk is full while {doing}: what was already committed is safe; "
            "free some space (the samples not yet written are kept in memory meanwhile)",
        )
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
        return not_a_recording(path, str(exc))
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM")):
        return RecordingError(
            str(path),
            "cannot_open",
            f"cannot open or write the database while {doing} ({exc}): check the folder "
            "exists and is writable, or choose another file",
        )
    return RecordingError(str(path), "sqlite", f"database error while {doing}: {exc}")


def not_a_recording(path: Path, detail: str) -> RecordingError:
    """The ``"corrupt"`` error: ``path`` is not a recording finemotor can read."""
    return RecordingError(
        str(path),
        "corrupt",
        f"not a readable finemotor recording ({detail}); nothing was changed. Move the file "
        "aside (a new one is then started) or use another file",
    )
