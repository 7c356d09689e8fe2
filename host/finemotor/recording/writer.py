"""Writing a session: :class:`Recorder` batches what is added in memory and a background thread
commits it at least every ``flush_s`` seconds (default 0.5 s), so a host killed outright loses
at most that much and leaves the database readable.

Samples are stored as received, raw counts and device time, one row per
:class:`~finemotor.samples.SampleBlock` (first sequence number, device times as float64 bytes,
counts as int32 bytes), so an hour at 200 Hz stays a few megabytes.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from finemotor.calibration.model import DeviceCalibration
from finemotor.errors import RecordingError
from finemotor.metrics.results import to_jsonable
from finemotor.protocol.calblob import encode_calibration
from finemotor.recording.database import default_db_path, open_for_writing
from finemotor.recording.failures import sqlite_failure
from finemotor.recording.schema import create_schema
from finemotor.samples import SampleBlock
from finemotor.student import student_id_problem


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
        self._conn = open_for_writing(self.path, busy_timeout_s)
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
            create_schema(self._conn)
            cur = self._conn.execute(
                "INSERT INTO sessions (student, started_at, note) VALUES (?, ?, ?)",
                (student, time.time(), note),
            )
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._conn.close()
            raise sqlite_failure(self.path, exc, "starting the session") from exc
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
                self.failure = sqlite_failure(self.path, exc, "saving samples")
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
            raise sqlite_failure(self.path, exc, "closing the session") from exc
        finally:
            self._conn.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
