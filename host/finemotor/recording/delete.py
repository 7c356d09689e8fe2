"""Deleting a session with everything recorded with it, leaving nothing of it in the file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from finemotor.recording.database import connect, default_db_path, write_transaction
from finemotor.recording.failures import sqlite_failure
from finemotor.recording.reader import Recording, SessionInfo


def delete_session(path: str | Path | None, session: int) -> SessionInfo:
    """Delete a session and everything recorded with it (devices, samples, events, metrics),
    then compact the file so the deleted samples do not linger in it. Returns what was deleted.

    Raises:
        RecordingError: no such session, or the file is locked, corrupt or not writable.
    """
    with Recording(path) as rec:
        info = rec.session(session)
    with write_transaction(path) as conn:
        devices = "SELECT id FROM devices WHERE session_id = ?"
        conn.execute(f"DELETE FROM blocks WHERE device_id IN ({devices})", (session,))
        for table in ("devices", "events", "metrics", "uploads"):
            conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session,))
        conn.execute("DELETE FROM sessions WHERE id = ?", (session,))
    db = Path(path) if path is not None else default_db_path()
    conn = connect(db, 5.0)
    try:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        raise sqlite_failure(db, exc, "compacting after the deletion") from exc
    finally:
        conn.close()
    return info
