"""The session recording: one SQLite database (WAL) of sessions, devices, samples, events, metrics.

A :class:`Recorder` records one session (:mod:`~finemotor.recording.writer`); a
:class:`Recording` reads it back (:mod:`~finemotor.recording.reader`);
:func:`delete_session` removes one (:mod:`~finemotor.recording.delete`). The tables are in
:mod:`~finemotor.recording.schema`, opening the file in :mod:`~finemotor.recording.database`,
and SQLite's errors become :class:`~finemotor.errors.RecordingError` in
:mod:`~finemotor.recording.failures`.

The database is ``recordings.sqlite`` in the user's data directory (``platformdirs``), or in
``$FINEMOTOR_DATA`` when that is set; commands take ``--db FILE`` to use another.
"""

from __future__ import annotations

from finemotor.recording.database import DB_NAME, default_db_path, write_transaction
from finemotor.recording.delete import delete_session
from finemotor.recording.reader import DeviceInfo, Event, Recording, Samples, SessionInfo
from finemotor.recording.schema import SCHEMA_VERSION
from finemotor.recording.writer import Commit, Recorder

__all__ = [
    "DB_NAME",
    "SCHEMA_VERSION",
    "Commit",
    "DeviceInfo",
    "Event",
    "Recorder",
    "Recording",
    "Samples",
    "SessionInfo",
    "default_db_path",
    "delete_session",
    "write_transaction",
]
