"""The session recording: one SQLite database (WAL) of sessions, devices, samples, events, metrics.

A :class:`Recorder` records one session. Samples are stored as received, raw counts and device
time, one row per :class:`~finemotor.samples.SampleBlock` (first sequence number, device times
as float64 bytes, counts as int32 bytes), so an hour at 200 Hz stays a few megabytes. What is
added is batched in memory and committed by a background thread at least every ``flush_s``
seconds (default 0.5 s), so a host killed outright loses at most that much and leaves the
database readable. A :class:`Recording` reads it back.

The database is ``recordings.sqlite`` in the user's data directory (``platformdirs``), or in
``$FINEMOTOR_DATA`` when that is set; commands take ``--db FILE`` to use another.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import platformdirs

from finemotor.calibration.model import DeviceCalibration
from finemotor.errors import RecordingError
from finemotor.metrics.results import to_jsonable
from finemotor.protocol.calblob import encode_calibration
from finemotor.samples import SampleBlock
from finemotor.student import student_id_problem

SCHEMA_VERSION = 1
DB_NAME = "recordings.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    student TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS devices (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    channels TEXT NOT NULL,
    serial TEXT NOT NULL DEFAULT '',
    firmware TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    rate_hz REAL,
    calibration BLOB,
    calibration_json TEXT,
    UNIQUE (session_id, name)
);
CREATE TABLE IF NOT EXISTS blocks (
    id INTEGER PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices(id),
    seq0 INTEGER NOT NULL,
    n INTEGER NOT NULL,
    t BLOB NOT NULL,
    counts BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS blocks_by_device ON blocks (device_id, seq0);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    device TEXT,
    host_t REAL NOT NULL,
    device_t REAL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    device TEXT NOT NULL,
    host_t REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    session_id INTEGER PRIMARY KEY REFERENCES sessions(id),
    state TEXT NOT NULL,
    block_row INTEGER NOT NULL DEFAULT 0,
    event_row INTEGER NOT NULL DEFAULT 0,
    metric_row INTEGER NOT NULL DEFAULT 0,
    server_id INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_try REAL,
    confirmed_at REAL,
    problem TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS goals (
    id INTEGER PRIMARY KEY,
    student TEXT NOT NULL,
    metric TEXT NOT NULL,
    target REAL NOT NULL,
    unit TEXT NOT NULL,
    direction TEXT NOT NULL,
    set_at REAL NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
"""


def default_db_path() -> Path:
    """``$FINEMOTOR_DATA/recordings.sqlite``, else the same file in the user's data directory."""
    base = os.environ.get("FINEMOTOR_DATA") or platformdirs.user_data_dir("finemotor")
    return Path(base) / DB_NAME


@dataclass(frozen=True)
class Commit:
    """What one commit made durable.

    Attributes:
        host_t: host wall-clock time of the commit (unix seconds).
        last_seq: per device, the highest sample index committed so far.
        samples: samples written by this commit.
    """

    host_t: float
    last_seq: dict[str, int]
    samples: int


@dataclass(frozen=True)
class SessionInfo:
    """One recorded session, as listed."""

    id: int
    student: str
    started_at: float
    ended_at: float | None
    note: str
    samples: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DeviceInfo:
    """One device of a session, with its calibration record (JSON) when known."""

    name: str
    kind: str
    channels: tuple[str, ...]
    serial: str
    firmware: str
    model: str
    address: str
    rate_hz: float | None
    calibration: Any


@dataclass(frozen=True)
class Samples:
    """A device's recorded samples: ``seq`` (int64), ``t`` device seconds (float64), ``counts``
    raw counts ``(n, len(channels))`` (int32)."""

    channels: tuple[str, ...]
    seq: npt.NDArray[np.int64]
    t: npt.NDArray[np.float64]
    counts: npt.NDArray[np.int32]


@dataclass(frozen=True)
class Event:
    """A session event (a therapist's mark, a link drop...)."""

    kind: str
    host_t: float
    device: str | None
    device_t: float | None
    data: Any


def _fail(path: Path, exc: sqlite3.Error, doing: str) -> RecordingError:
    """Turn an sqlite3 error into a :class:`RecordingError` that says what to do."""
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return RecordingError(
            str(path),
            "locked",
            f"the database is locked while {doing}: another finemotor may be using it; "
            "close it and try again, or record into another file with --db",
        )
    if name.startswith("SQLITE_FULL") or "disk is full" in str(exc):
        return RecordingError(
            str(path),
            "full",
            f"the disk is full while {doing}: what was already committed is safe; "
            "free some space (the samples not yet written are kept in memory meanwhile)",
        )
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
        return _corrupt(path, str(exc))
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM")):
        return RecordingError(
            str(path),
            "cannot_open",
            f"cannot open or write the database while {doing} ({exc}): check the folder "
            "exists and is writable, or choose another file with --db",
        )
    return RecordingError(str(path), "sqlite", f"database error while {doing}: {exc}")


def _corrupt(path: Path, detail: str) -> RecordingError:
    return RecordingError(
        str(path),
        "corrupt",
        f"not a readable finemotor recording ({detail}); nothing was changed. Move the file "
        "aside (a new one is then started) or pass --db to use another",
    )


def _connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
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
            raise _corrupt(path, "an SQLite database, but not one finemotor wrote")
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
        raise _fail(path, exc, "opening") from exc
    return conn


def _create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables that are missing (inside the caller's transaction)."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    if conn.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 0:
        conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))


def _open_for_writing(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """Create the file's folder and connect (:func:`_connect` checks it is a recording).

    The file is never opened but through SQLite: closing any other handle on it would drop
    the POSIX locks of this process's connections, and a reader elsewhere could then
    checkpoint away the write-ahead log under them (an I/O error, lost commits).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecordingError(str(path), "cannot_open", f"cannot create its folder: {exc}") from exc
    return _connect(path, busy_timeout_s)


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
    conn = _open_for_writing(db, busy_timeout_s)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN IMMEDIATE")
        _create_schema(conn)
        yield conn
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise _fail(db, exc, "writing") from exc
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


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
    conn = _connect(db, 5.0)
    try:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        raise _fail(db, exc, "compacting after the deletion") from exc
    finally:
        conn.close()
    return info


class Recorder:
    """Records one session into the database at ``path``.

    Args:
        path: the database file (None: :func:`default_db_path`); created with its folder.
        student: the session's pseudonymous student id (letters, digits, ``-_.``; never a name).
        note: free text about the session (no personal data).
        flush_s: commit what was added at least this often (seconds, at most 1).
        busy_timeout_s: how long to wait for another writer before calling the file locked.
        on_commit: called (from the flushing thread) after each commit.

    Raises:
        RecordingError: the file is locked, corrupt, not writable, or the student id is not a
            pseudonym.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        student: str = "anonymous",
        note: str = "",
        flush_s: float = 0.5,
        busy_timeout_s: float = 5.0,
        on_commit: Callable[[Commit], None] | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        problem = student_id_problem(student)
        if problem is not None:
            raise RecordingError(str(self.path), "student", problem)
        if not 0 < flush_s <= 1.0:
            raise RecordingError(str(self.path), "flush", "flush_s must be in (0, 1] seconds")
        self._conn = _open_for_writing(self.path, busy_timeout_s)
        self._flush_s = flush_s
        self._on_commit = on_commit
        self._lock = threading.Lock()  # guards _pending and the device maps
        self._write = threading.Lock()  # one writer on the connection
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._devices: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._last_seq: dict[str, int] = {}
        self._pending_seq: dict[str, int] = {}
        self.failure: RecordingError | None = None
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("BEGIN IMMEDIATE")
            _create_schema(self._conn)
            cur = self._conn.execute(
                "INSERT INTO sessions (student, started_at, note) VALUES (?, ?, ?)",
                (student, time.time(), note),
            )
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._conn.close()
            raise _fail(self.path, exc, "starting the session") from exc
        self.session_id = int(cur.lastrowid or 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="finemotor-recorder", daemon=True)
        self._thread.start()

    # -- adding ---------------------------------------------------------------------------

    def add_device(
        self,
        name: str,
        kind: str,
        channels: tuple[str, ...],
        *,
        serial: str = "",
        firmware: str = "",
        model: str = "",
        address: str = "",
        rate_hz: float | None = None,
        calibration: DeviceCalibration | None = None,
    ) -> None:
        """Declare a device of this session (``name`` is how blocks and events refer to it)."""
        blob = encode_calibration(calibration) if calibration is not None else None
        cal_json = json.dumps(to_jsonable(calibration)) if calibration is not None else None
        row = (
            self.session_id,
            name,
            kind,
            json.dumps(list(channels)),
            serial,
            firmware,
            model,
            address,
            rate_hz,
            blob,
            cal_json,
        )
        with self._lock:
            if name in self._channels:
                raise RecordingError(str(self.path), "device", f"device {name!r} added twice")
            self._channels[name] = len(channels)
            self._pending.append(("device", row))

    def add_block(self, device: str, block: SampleBlock) -> None:
        """Record a block of samples as received (declares the device on first use)."""
        n = len(block)
        if n == 0:
            return
        if name_unknown := device not in self._channels:
            self.add_device(device, block.kind, block.channels)
        counts = np.ascontiguousarray(block.counts, dtype="<i4").reshape(n, -1)
        if not name_unknown and counts.shape[1] != self._channels[device]:
            raise RecordingError(
                str(self.path),
                "block",
                f"device {device!r} has {self._channels[device]} channels, "
                f"the block {counts.shape[1]}",
            )
        seq0 = int(block.seq[0])
        if int(block.seq[-1]) - seq0 != n - 1:
            raise RecordingError(str(self.path), "block", "a block's samples must be consecutive")
        t = np.ascontiguousarray(block.t, dtype="<f8").tobytes()
        with self._lock:
            self._pending.append(("block", (device, seq0, n, t, counts.tobytes())))
            self._pending_seq[device] = max(self._pending_seq.get(device, seq0), seq0 + n - 1)

    def add_event(
        self,
        kind: str,
        data: Any = None,
        *,
        device: str | None = None,
        device_t: float | None = None,
        host_t: float | None = None,
    ) -> None:
        """Record an event (``data``: anything JSON-ready or a result dataclass)."""
        row = (
            self.session_id,
            device,
            time.time() if host_t is None else host_t,
            device_t,
            kind,
            json.dumps(to_jsonable(data)),
        )
        with self._lock:
            self._pending.append(("event", row))

    def add_metrics(self, device: str, snapshot: Any, host_t: float | None = None) -> None:
        """Record a metrics snapshot of one device (stored as JSON)."""
        row = (
            self.session_id,
            device,
            time.time() if host_t is None else host_t,
            json.dumps(to_jsonable(snapshot)),
        )
        with self._lock:
            self._pending.append(("metrics", row))

    # -- committing -----------------------------------------------------------------------

    def flush(self) -> None:
        """Commit everything added so far.

        Raises:
            RecordingError: it could not be written (locked, disk full...); it stays in memory
                and the next flush tries again.
        """
        with self._write:
            with self._lock:
                batch, self._pending = self._pending, []
                seq = dict(self._pending_seq)
            if not batch:
                return
            try:
                written = self._write_batch(batch)
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                with self._lock:
                    self._pending = batch + self._pending
                self.failure = _fail(self.path, exc, "saving samples")
                raise self.failure from exc
            self.failure = None
            self._last_seq.update(seq)
        if self._on_commit is not None:
            self._on_commit(Commit(time.time(), dict(self._last_seq), written))

    def _write_batch(self, batch: list[tuple[str, tuple[Any, ...]]]) -> int:
        conn = self._conn
        written = 0
        conn.execute("BEGIN IMMEDIATE")
        for what, row in batch:
            if what == "device":
                cur = conn.execute(
                    "INSERT INTO devices (session_id, name, kind, channels, serial, firmware, "
                    "model, address, rate_hz, calibration, calibration_json) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                self._devices[row[1]] = int(cur.lastrowid or 0)
            elif what == "block":
                conn.execute(
                    "INSERT INTO blocks (device_id, seq0, n, t, counts) VALUES (?, ?, ?, ?, ?)",
                    (self._devices[row[0]], *row[1:]),
                )
                written += int(row[2])
            elif what == "event":
                conn.execute(
                    "INSERT INTO events (session_id, device, host_t, device_t, kind, data) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    row,
                )
            else:
                conn.execute(
                    "INSERT INTO metrics (session_id, device, host_t, data) VALUES (?, ?, ?, ?)",
                    row,
                )
        conn.execute("COMMIT")
        return written

    def _run(self) -> None:
        while not self._stop.wait(self._flush_s):
            # A failure is kept in self.failure; the data stays pending and is retried.
            with contextlib.suppress(RecordingError):
                self.flush()

    def close(self) -> None:
        """Commit what is left, mark the session ended, and close the database.

        Raises:
            RecordingError: the last samples could not be written (the message says why).
        """
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        try:
            self.flush()
            with self._write:
                self._conn.execute(
                    "UPDATE sessions SET ended_at = ? WHERE id = ?", (time.time(), self.session_id)
                )
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise _fail(self.path, exc, "closing the session") from exc
        finally:
            self._conn.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Recording:
    """Reads a recording database (it writes nothing).

    Raises:
        RecordingError: no such file, not a finemotor recording, or locked.
    """

    def __init__(self, path: str | Path | None = None, busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        if not self.path.is_file():
            raise RecordingError(
                str(self.path),
                "missing",
                "no recording here yet: nothing has been recorded into this file; "
                "pass --db to read another",
            )
        self._conn = _connect(self.path, busy_timeout_s)
        self._conn.execute("PRAGMA query_only = ON")  # a reader never writes, whatever it runs

    def close(self) -> None:
        """Close the database."""
        self._conn.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise _fail(self.path, exc, "reading") from exc

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        """Rows of an SQL query (for tables without a reader here, e.g. goals); the connection
        is query-only, so a statement that would write fails.

        Raises:
            RecordingError: the database cannot be read.
        """
        return self._query(sql, args)

    def list_sessions(self) -> list[SessionInfo]:
        """Every session, oldest first, with its sample count per device."""
        if not self._query("SELECT 1 FROM sqlite_master WHERE name='sessions'"):
            return []
        counts: dict[int, dict[str, int]] = {}
        for sid, name, n in self._query(
            "SELECT d.session_id, d.name, coalesce(sum(b.n), 0) FROM devices d "
            "LEFT JOIN blocks b ON b.device_id = d.id GROUP BY d.id ORDER BY d.id"
        ):
            counts.setdefault(sid, {})[name] = int(n)
        return [
            SessionInfo(sid, student, started, ended, note, counts.get(sid, {}))
            for sid, student, started, ended, note in self._query(
                "SELECT id, student, started_at, ended_at, note FROM sessions ORDER BY id"
            )
        ]

    def session(self, session: int) -> SessionInfo:
        """One session.

        Raises:
            RecordingError: there is no such session.
        """
        for info in self.list_sessions():
            if info.id == session:
                return info
        raise RecordingError(
            str(self.path),
            "unknown_session",
            f"no session {session} in this recording: `finemotor sessions` lists them",
        )

    def devices(self, session: int) -> list[DeviceInfo]:
        """The devices of a session, in the order they were added."""
        self.session(session)
        return [
            DeviceInfo(
                name,
                kind,
                tuple(json.loads(ch)),
                serial,
                firmware,
                model,
                address,
                rate,
                json.loads(cal) if cal else None,
            )
            for name, kind, ch, serial, firmware, model, address, rate, cal in self._query(
                "SELECT name, kind, channels, serial, firmware, model, address, rate_hz, "
                "calibration_json FROM devices WHERE session_id = ? ORDER BY id",
                (session,),
            )
        ]

    def load_samples(self, session: int, device: str) -> Samples:
        """A device's samples in sequence order.

        Raises:
            RecordingError: no such session or device.
        """
        found = [d for d in self.devices(session) if d.name == device]
        if not found:
            raise RecordingError(
                str(self.path),
                "unknown_device",
                f"session {session} has no device {device!r}: `finemotor sessions` lists them",
            )
        nch = len(found[0].channels)
        rows = self._query(
            "SELECT b.seq0, b.n, b.t, b.counts FROM blocks b JOIN devices d ON b.device_id = d.id "
            "WHERE d.session_id = ? AND d.name = ? ORDER BY b.seq0",
            (session, device),
        )
        if not rows:
            return Samples(
                found[0].channels,
                np.zeros(0, np.int64),
                np.zeros(0, np.float64),
                np.zeros((0, nch), np.int32),
            )
        seq = np.concatenate([np.arange(s0, s0 + n, dtype=np.int64) for s0, n, _, _ in rows])
        t = np.concatenate([np.frombuffer(tb, dtype="<f8") for _, _, tb, _ in rows])
        counts = np.concatenate([np.frombuffer(cb, dtype="<i4") for _, _, _, cb in rows])
        return Samples(
            found[0].channels,
            seq,
            t.astype(np.float64),
            counts.astype(np.int32).reshape(len(seq), nch),
        )

    def events(self, session: int, kind: str | None = None) -> list[Event]:
        """A session's events in the order recorded (only ``kind`` if given)."""
        self.session(session)
        sql = "SELECT kind, host_t, device, device_t, data FROM events WHERE session_id = ?"
        args: tuple[Any, ...] = (session,)
        if kind is not None:
            sql += " AND kind = ?"
            args += (kind,)
        return [
            Event(k, ht, dev, dt, json.loads(data))
            for k, ht, dev, dt, data in self._query(sql + " ORDER BY id", args)
        ]

    def metrics(self, session: int) -> list[dict[str, Any]]:
        """A session's metrics snapshots: ``{"device", "host_t", "metrics"}`` in order."""
        self.session(session)
        return [
            {"device": dev, "host_t": ht, "metrics": json.loads(data)}
            for dev, ht, data in self._query(
                "SELECT device, host_t, data FROM metrics WHERE session_id = ? ORDER BY id",
                (session,),
            )
        ]
