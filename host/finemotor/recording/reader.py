"""Reading a recording back: :class:`Recording` lists its sessions and gives each session's
devices, samples, events and metrics (it writes nothing).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from finemotor.errors import RecordingError
from finemotor.recording.database import connect, default_db_path
from finemotor.recording.failures import sqlite_failure


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
                "read another file",
            )
        self._conn = connect(self.path, busy_timeout_s)
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
            raise sqlite_failure(self.path, exc, "reading") from exc

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
