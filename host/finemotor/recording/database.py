"""Where the recording database is, and opening it: checked to be a recording this finemotor
can read, created with its folder for writing, and one write transaction for what is not a
session's samples.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import platformdirs

from finemotor.errors import RecordingError
from finemotor.recording.failures import not_a_recording, sqlite_failure
from finemotor.recording.schema import SCHEMA_VERSION, create_schema

DB_NAME = "recordings.sqlite"
"""The database's file name in the data directory."""


def default_db_path() -> Path:
    """``$FINEMOTOR_DATA/recordings.sqlite``, else the same file in the user's data directory."""
    base = os.environ.get("FINEMOTOR_DATA") or platformdirs.user_data_dir("finemotor")
    return Path(base) / DB_NAME


def connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """A connection to ``path`` (autocommit, usable from any thread), once it is known to be
    empty or a recording no newer than this finemotor reads.

    Raises:
        RecordingError: another kind of file, a newer recording, or it cannot be opened.
    """
    conn = sqlite3.connect(
        path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
    )
    try:
        version = conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'"
        ).fetchone()
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if version is None and tables:
            conn.close()
            raise not_a_recording(path, "an SQLite database, but not one finemotor wrote")
        if version is not None:
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            if row[0] is not None and row[0] > SCHEMA_VERSION:
                conn.close()
                raise RecordingError(
                    str(path),
                    "newer",
                    f"recorded by a newer finemotor (schema {row[0]}, this one reads "
                    f"{SCHEMA_VERSION}): upgrade finemotor",
                )
    except sqlite3.Error as exc:
        conn.close()
        raise sqlite_failure(path, exc, "opening") from exc
    return conn


def open_for_writing(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """Create the file's folder and connect (:func:`connect` checks it is a recording).

    The file is never opened but through SQLite: closing any other handle on it would drop
    the POSIX locks of this process's connections, and a reader elsewhere could then
    checkpoint away the write-ahead log under them (an I/O error, lost commits).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecordingError(
            str(path), "cannot_open", f"cannot create its folder ({exc}): choose another file"
        ) from exc
    return connect(path, busy_timeout_s)


@contextlib.contextmanager
def write_transaction(
    path: str | Path | None = None, busy_timeout_s: float = 5.0
) -> Iterator[sqlite3.Connection]:
    """One write transaction on the recording database (created if missing), for what is not a
    session's samples (e.g. the therapist's goals): committed on exit, rolled back on error.

    Raises:
        RecordingError: the file is locked, corrupt, not writable, or the disk is full.
    """
    db = Path(path) if path is not None else default_db_path()
    conn = open_for_writing(db, busy_timeout_s)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN IMMEDIATE")
        create_schema(conn)
        yield conn
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise sqlite_failure(db, exc, "writing") from exc
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
