"""Recorded sessions on the server: what desks upload, and what the API reads back.

A desk's session is keyed by (desk, the desk's own session number). Its blocks of samples are
stored compressed (zlib) with their digests, keyed by (device, first sequence number), so a
chunk sent twice, or out of order, or after a restart is stored once. A session is
``uploading`` until its completion carries counts and a digest that agree with what is stored;
then it is ``complete``. Reads give back exactly what the desk recorded (the same
:class:`~finemotor.recording.Samples` and events), so the server's metrics are the desk's.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import and_, case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from finemotor.errors import NotFoundError, RefusedError
from finemotor.recording import DeviceInfo, Event, Samples
from finemotor.samples import DEVICE_KINDS
from finemotor.server import schema as s
from finemotor.server.codec import (
    SEGMENT_SAMPLES,
    decode_index,
    decode_samples,
    encode_index,
    encode_samples,
)
from finemotor.server.store import Desk, Store, Student
from finemotor.sync.wire import (
    MAX_CHANNELS,
    MAX_DEVICES,
    Block,
    block_from_json,
    device_digest,
    times_of,
)

COMPRESS_LEVEL = 6
MAX_EVENTS_PER_CHUNK = 5000
_TEXT_MAX = 2000


@dataclass(frozen=True)
class SessionRow:
    """A recorded session as the server holds it."""

    id: int
    student: str
    school: str
    desk: str
    desk_session: int
    started_at: float
    ended_at: float | None
    note: str
    state: str
    completed_at: float | None
    therapist_note: str = ""


def _session_row(r: Any) -> SessionRow:
    return SessionRow(
        r.id,
        r.student,
        r.school,
        r.desk,
        r.desk_session,
        r.started_at,
        r.ended_at,
        r.note,
        r.state,
        r.completed_at,
        r.therapist_note or "",
    )


def _refuse(message: str, reason: str = "bad_session", status: int = 400) -> RefusedError:
    return RefusedError(status, reason, message)


def _text(obj: Any, key: str, limit: int = 64) -> str:
    v = obj.get(key, "")
    if v is None:
        v = ""
    if not isinstance(v, str) or len(v) > limit:
        raise _refuse(f"{key} must be text of at most {limit} characters")
    return v


def _number(obj: Any, key: str, optional: bool = False) -> float | None:
    v = obj.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        raise _refuse(f"{key} must be a finite number")
    return float(v)


def _device_meta(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _refuse("each device must be an object")
    name = _text(obj, "name", 32)
    if not name:
        raise _refuse("each device needs a name")
    kind = _text(obj, "kind", 16)
    if kind not in DEVICE_KINDS:
        raise _refuse(f"a device's kind is one of {', '.join(DEVICE_KINDS)}")
    channels = obj.get("channels")
    if (
        not isinstance(channels, list)
        or not 1 <= len(channels) <= MAX_CHANNELS
        or not all(isinstance(c, str) and 0 < len(c) <= 32 for c in channels)
    ):
        raise _refuse(f"a device has 1 to {MAX_CHANNELS} named channels")
    cal = obj.get("calibration")
    if cal is not None and not isinstance(cal, dict):
        raise _refuse("a device's calibration is an object or null")
    cal_json = json.dumps(cal) if cal is not None else None
    if cal_json is not None and len(cal_json) > 20000:
        raise _refuse("a device's calibration record is too large")
    return {
        "name": name,
        "kind": kind,
        "channels": json.dumps(channels),
        "serial": _text(obj, "serial"),
        "firmware": _text(obj, "firmware"),
        "model": _text(obj, "model"),
        "rate_hz": _number(obj, "rate_hz", optional=True),
        "calibration_json": cal_json,
    }


async def _digests(c: Any, device_id: int) -> dict[int, tuple[int, str]]:
    """``{seq0: (n, digest)}`` of every block stored for a device, uploaded or compacted."""
    b, seg = s.blocks, s.segments
    out = {
        r.seq0: (int(r.n), str(r.digest))
        for r in (
            await c.execute(select(b.c.seq0, b.c.n, b.c.digest).where(b.c.device_id == device_id))
        ).all()
    }
    rows = await c.execute(select(seg.c.blocks, seg.c.data).where(seg.c.device_id == device_id))
    for r in rows.all():
        t, counts = decode_samples(r.data)
        at = 0
        for seq0, n in decode_index(r.blocks):
            block = Block(seq0, n, t[at : at + n].tobytes(), counts[at : at + n].tobytes())
            out[seq0] = (n, block.digest())
            at += n
    return out


def _unpack_block(data: bytes, n: int) -> tuple[Any, Any]:
    raw = zlib.decompress(data)
    return np.frombuffer(raw[: 8 * n], dtype="<f8"), np.frombuffer(raw[8 * n :], dtype="<i4")


async def _parts(c: Any, device_id: int) -> list[tuple[Any, Any, Any]]:
    """``(seq, t, counts)`` pieces of a device's samples in sequence order: its segments and
    the blocks not yet compacted."""
    b, seg = s.blocks, s.segments
    parts: list[tuple[int, tuple[Any, Any, Any]]] = []
    rows = await c.execute(
        select(seg.c.seq0, seg.c.blocks, seg.c.data).where(seg.c.device_id == device_id)
    )
    for r in rows.all():
        t, counts = decode_samples(r.data)
        seq = np.concatenate(
            [np.arange(q, q + n, dtype=np.int64) for q, n in decode_index(r.blocks)]
        )
        parts.append((r.seq0, (seq, t, counts.reshape(-1))))
    rows = await c.execute(select(b.c.seq0, b.c.n, b.c.data).where(b.c.device_id == device_id))
    for r in rows.all():
        t, counts = _unpack_block(r.data, r.n)
        parts.append((r.seq0, (np.arange(r.seq0, r.seq0 + r.n, dtype=np.int64), t, counts)))
    parts.sort(key=lambda p: p[0])
    return [p for _, p in parts]


async def _compact(c: Any, device_id: int) -> None:
    """Move a device's uploaded blocks into segments of up to SEGMENT_SAMPLES samples."""
    b = s.blocks
    rows = (
        await c.execute(
            select(b.c.seq0, b.c.n, b.c.data, b.c.digest)
            .where(b.c.device_id == device_id)
            .order_by(b.c.seq0)
        )
    ).all()
    batch: list[Any] = []

    async def flush() -> None:
        ts, cs = [], []
        for r in batch:
            t, counts = _unpack_block(r.data, r.n)
            ts.append(t)
            cs.append(counts)
        t_all = np.concatenate(ts)
        counts_all = np.concatenate(cs).reshape(len(t_all), -1)
        await c.execute(
            insert(s.segments).values(
                device_id=device_id,
                seq0=batch[0].seq0,
                n=len(t_all),
                t0=float(t_all[0]),
                t1=float(t_all[-1]),
                blocks=encode_index([r.seq0 for r in batch], [r.n for r in batch]),
                data=encode_samples(t_all, counts_all),
            )
        )
        batch.clear()

    size = 0
    for r in rows:
        if batch and size + r.n > SEGMENT_SAMPLES:
            await flush()
            size = 0
        batch.append(r)
        size += r.n
    if batch:
        await flush()
    await c.execute(delete(b).where(b.c.device_id == device_id))


class Records:
    """Recorded sessions (see the module docstring), in ``store``'s database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # desk side --------------------------------------------------------------------------

    async def put_session(self, desk: Desk, desk_session: int, meta: Any) -> dict[str, Any]:
        """Create or update the desk's session from its description; what the server has.

        Returns ``{"id", "state", "devices": {name: {"samples", "blocks"}}, "events",
        "metrics"}`` (counts already stored, so a desk can see where it stands).

        Raises:
            RefusedError: a malformed description (400), a student not on a caseload at the
                desk's school (403), a device that changed its channels (409).
        """
        if not isinstance(meta, dict):
            raise _refuse("the session description must be a JSON object")
        student = _text(meta, "student", 32)
        started = _number(meta, "started_at")
        ended = _number(meta, "ended_at", optional=True)
        note = _text(meta, "note", _TEXT_MAX)
        devices_in = meta.get("devices")
        if not isinstance(devices_in, list) or len(devices_in) > MAX_DEVICES:
            raise _refuse(f"a session has a list of at most {MAX_DEVICES} devices")
        devices = [_device_meta(d) for d in devices_in]
        if len({d["name"] for d in devices}) != len(devices):
            raise _refuse("two devices of a session have the same name")
        if not await self.store.desk_may_serve(desk, student):
            raise _refuse(
                f"student {student} is not on a caseload at {desk.school}: ask the therapist "
                "to add the student (finemotor server caseload add) before uploading",
                "not_on_caseload",
                403,
            )
        ss, sd = s.sessions, s.session_devices
        try:
            async with self.store.tx() as c:
                row = (
                    await c.execute(
                        select(ss.c.id, ss.c.student_id, ss.c.state).where(
                            and_(ss.c.desk_id == desk.id, ss.c.desk_session == desk_session)
                        )
                    )
                ).first()
                student_id = (
                    await c.execute(select(s.students.c.id).where(s.students.c.code == student))
                ).scalar_one()
                if row is None:
                    res = await c.execute(
                        insert(ss).values(
                            desk_id=desk.id,
                            desk_session=desk_session,
                            student_id=student_id,
                            started_at=started,
                            ended_at=ended,
                            note=note,
                            state="uploading",
                            received_at=time.time(),
                        )
                    )
                    assert res.inserted_primary_key is not None
                    sid = int(res.inserted_primary_key[0])
                    await self.store.log(
                        f"desk {desk.id} ({desk.name})",
                        "upload",
                        student,
                        f"session {sid} started uploading",
                        conn=c,
                    )
                else:
                    sid = row.id
                    if row.student_id != student_id:
                        raise _refuse(
                            "this session was uploaded for another student: it cannot change",
                            "conflict",
                            409,
                        )
                    if row.state != "complete":
                        await c.execute(
                            update(ss).where(ss.c.id == sid).values(ended_at=ended, note=note)
                        )
                known = {
                    r.name: r.channels
                    for r in (
                        await c.execute(
                            select(sd.c.name, sd.c.channels).where(sd.c.session_id == sid)
                        )
                    ).all()
                }
                for d in devices:
                    if d["name"] in known:
                        if known[d["name"]] != d["channels"]:
                            raise _refuse(
                                f"device {d['name']} has other channels than when it was first "
                                "uploaded",
                                "conflict",
                                409,
                            )
                        continue
                    await c.execute(insert(sd).values(session_id=sid, samples=0, blocks=0, **d))
        except IntegrityError:
            raise _refuse(
                "another upload of this session is running: try again in a moment", "busy", 409
            ) from None
        return await self._state(sid)

    async def _state(self, sid: int) -> dict[str, Any]:
        ss, sd = s.sessions, s.session_devices
        async with self.store.tx() as c:
            state = (await c.execute(select(ss.c.state).where(ss.c.id == sid))).scalar_one()
            devs = (
                await c.execute(
                    select(sd.c.name, sd.c.samples, sd.c.blocks).where(sd.c.session_id == sid)
                )
            ).all()
            n_ev = (
                await c.execute(select(func.count()).where(s.events.c.session_id == sid))
            ).scalar_one()
            n_me = (
                await c.execute(select(func.count()).where(s.metrics.c.session_id == sid))
            ).scalar_one()
        return {
            "id": sid,
            "state": state,
            "devices": {d.name: {"samples": d.samples, "blocks": d.blocks} for d in devs},
            "events": int(n_ev),
            "metrics": int(n_me),
        }

    async def _desk_session(self, c: Any, desk: Desk, desk_session: int) -> tuple[int, str]:
        ss = s.sessions
        row = (
            await c.execute(
                select(ss.c.id, ss.c.state).where(
                    and_(ss.c.desk_id == desk.id, ss.c.desk_session == desk_session)
                )
            )
        ).first()
        if row is None:
            raise NotFoundError("session", str(desk_session), "describe it first (PUT)")
        return int(row.id), str(row.state)

    async def add_blocks(
        self, desk: Desk, desk_session: int, device: str, blocks_in: Any
    ) -> dict[str, int]:
        """Store a chunk of one device's blocks; ``{"stored", "duplicates"}``.

        Each block is checked against its digest before anything is written; a block already
        stored with the same digest is a duplicate (fine), with another digest a conflict.

        Raises:
            RefusedError: a malformed, truncated or altered block (400), a conflicting one
                (409), a session already complete that would change (409).
        """
        if not isinstance(blocks_in, list) or not blocks_in:
            raise _refuse("a chunk holds a non-empty list of blocks", "bad_chunk")
        sd, b = s.session_devices, s.blocks
        try:
            async with self.store.tx() as c:
                sid, state = await self._desk_session(c, desk, desk_session)
                dev = (
                    await c.execute(
                        select(sd.c.id, sd.c.channels).where(
                            and_(sd.c.session_id == sid, sd.c.name == device)
                        )
                    )
                ).first()
                if dev is None:
                    raise _refuse(f"the session has no device {device!r}", "bad_chunk")
                nch = len(json.loads(dev.channels))
                chunk: dict[int, Block] = {}
                for obj in blocks_in:
                    blk = block_from_json(obj, nch)
                    chunk[blk.seq0] = blk
                have = {
                    r.seq0: r.digest
                    for r in (
                        await c.execute(
                            select(b.c.seq0, b.c.digest).where(
                                and_(b.c.device_id == dev.id, b.c.seq0.in_(list(chunk)))
                            )
                        )
                    ).all()
                }
                new = []
                for seq0, blk in sorted(chunk.items()):
                    dig = blk.digest()
                    if seq0 in have:
                        if have[seq0] != dig:
                            raise _refuse(
                                f"block {seq0} of {device} differs from the one already stored",
                                "conflict",
                                409,
                            )
                        continue
                    t0, t1 = times_of(blk)
                    new.append(
                        {
                            "device_id": dev.id,
                            "seq0": seq0,
                            "n": blk.n,
                            "t0": t0,
                            "t1": t1,
                            "data": zlib.compress(blk.t + blk.counts, COMPRESS_LEVEL),
                            "digest": dig,
                        }
                    )
                if new and state == "complete":
                    stored = await _digests(c, dev.id)
                    if any(stored.get(r["seq0"]) != (r["n"], r["digest"]) for r in new):
                        raise _refuse(
                            "this session is complete on the server: it takes no new samples",
                            "conflict",
                            409,
                        )
                    new = []  # sent again after the completion: all already there
                if new:
                    await c.execute(insert(b), new)
                    await c.execute(
                        update(sd)
                        .where(sd.c.id == dev.id)
                        .values(
                            samples=sd.c.samples + sum(r["n"] for r in new),
                            blocks=sd.c.blocks + len(new),
                        )
                    )
        except IntegrityError:
            raise _refuse(
                "another upload of this session is running: try again in a moment", "busy", 409
            ) from None
        return {"stored": len(new), "duplicates": len(chunk) - len(new)}

    async def add_rows(self, desk: Desk, desk_session: int, kind: str, rows: Any) -> dict[str, int]:
        """Store events (``kind="events"``) or metric snapshots (``"metrics"``), each keyed by
        its row on the desk; ``{"stored", "duplicates"}``."""
        table = s.events if kind == "events" else s.metrics
        if not isinstance(rows, list) or len(rows) > MAX_EVENTS_PER_CHUNK:
            raise _refuse(
                f"a chunk holds a list of at most {MAX_EVENTS_PER_CHUNK} rows", "bad_chunk"
            )
        clean: dict[int, dict[str, Any]] = {}
        for r in rows:
            if not isinstance(r, dict) or not isinstance(r.get("row"), int):
                raise _refuse("each row has an integer 'row'", "bad_chunk")
            data = json.dumps(r.get("data"))
            if len(data) > 64 * 1024:
                raise _refuse("a row's data is too large", "bad_chunk")
            item: dict[str, Any] = {
                "desk_row": r["row"],
                "host_t": _number(r, "host_t"),
                "data": data,
            }
            if kind == "events":
                item["device"] = _text(r, "device", 32) or None
                item["device_t"] = _number(r, "device_t", optional=True)
                item["kind"] = _text(r, "kind", 32)
            else:
                item["device"] = _text(r, "device", 32)
            clean[r["row"]] = item
        try:
            async with self.store.tx() as c:
                sid, _state = await self._desk_session(c, desk, desk_session)
                have = {
                    x.desk_row
                    for x in (
                        await c.execute(
                            select(table.c.desk_row).where(
                                and_(table.c.session_id == sid, table.c.desk_row.in_(list(clean)))
                            )
                        )
                    ).all()
                }
                new = [dict(v, session_id=sid) for k, v in clean.items() if k not in have]
                if new:
                    await c.execute(insert(table), new)
        except IntegrityError:
            raise _refuse(
                "another upload of this session is running: try again in a moment", "busy", 409
            ) from None
        return {"stored": len(new), "duplicates": len(clean) - len(new)}

    async def complete(self, desk: Desk, desk_session: int, summary: Any) -> dict[str, Any]:
        """Check the desk's counts and digests against what is stored; mark it complete.

        Returns the session's state, with ``"missing"`` per device that does not agree (then
        the session stays ``uploading`` and the desk sends its blocks again).
        """
        if not isinstance(summary, dict) or not isinstance(summary.get("devices"), dict):
            raise _refuse("a completion has 'devices': {name: {samples, blocks, sha256}}")
        sd = s.session_devices
        mismatched: dict[str, Any] = {}
        async with self.store.tx() as c:
            sid, state = await self._desk_session(c, desk, desk_session)
            devs = (await c.execute(select(sd.c.id, sd.c.name).where(sd.c.session_id == sid))).all()
            if {d.name for d in devs} != set(summary["devices"]):
                raise _refuse("the completion names other devices than the session has")
            for d in devs:
                stored = await _digests(c, d.id)
                ours = {
                    "samples": sum(n for n, _ in stored.values()),
                    "blocks": len(stored),
                    "sha256": device_digest(stored[k][1] for k in sorted(stored)),
                }
                theirs = summary["devices"][d.name]
                if not isinstance(theirs, dict) or any(theirs.get(k) != v for k, v in ours.items()):
                    mismatched[d.name] = {"server": ours, "desk": theirs}
            for kind, table in (("events", s.events), ("metrics", s.metrics)):
                n = (
                    await c.execute(select(func.count()).where(table.c.session_id == sid))
                ).scalar_one()
                if kind in summary and summary[kind] != n:
                    mismatched[kind] = {"server": int(n), "desk": summary[kind]}
            if not mismatched and state != "complete":
                for d in devs:
                    await _compact(c, d.id)
                await c.execute(
                    update(s.sessions)
                    .where(s.sessions.c.id == sid)
                    .values(state="complete", completed_at=time.time())
                )
        out = await self._state(sid)
        if mismatched:
            out["mismatch"] = mismatched
        return out

    # goal metric values, worked out once ------------------------------------------------

    async def stored_values(self, sid: int, made_by: str) -> dict[str, Any] | None:
        """Session ``sid``'s goal metric values as ``made_by`` worked them out, if stored."""
        sv = s.session_values
        async with self.store.tx() as c:
            row = (
                await c.execute(
                    select(sv.c.data).where(and_(sv.c.session_id == sid, sv.c.made_by == made_by))
                )
            ).one_or_none()
        return None if row is None else dict(json.loads(row.data))

    async def store_values(self, sid: int, made_by: str, data: dict[str, Any]) -> None:
        """Keep session ``sid``'s goal metric values (replacing another version's)."""
        sv = s.session_values
        row = {"made_by": made_by, "data": json.dumps(data), "made_at": time.time()}
        try:
            async with self.store.tx() as c:
                done = await c.execute(update(sv).where(sv.c.session_id == sid).values(**row))
                if done.rowcount == 0:
                    await c.execute(insert(sv).values(session_id=sid, **row))
        except IntegrityError:  # another process stored them meanwhile, or the session is gone
            pass

    # reads ------------------------------------------------------------------------------

    def _session_query(self) -> Any:
        ss, st, sc, d = s.sessions, s.students, s.schools, s.desks
        return (
            select(
                ss.c.id,
                st.c.code.label("student"),
                sc.c.name.label("school"),
                d.c.name.label("desk"),
                ss.c.desk_session,
                ss.c.started_at,
                ss.c.ended_at,
                ss.c.note,
                ss.c.state,
                ss.c.completed_at,
                ss.c.therapist_note,
            )
            .join(st, st.c.id == ss.c.student_id)
            .join(sc, sc.c.id == st.c.school_id)
            .join(d, d.c.id == ss.c.desk_id)
        )

    async def sessions_of(self, student: Student) -> list[dict[str, Any]]:
        """The student's sessions, oldest first, each with its devices and sample counts."""
        ss, sd = s.sessions, s.session_devices
        async with self.store.tx() as c:
            rows = (
                await c.execute(
                    self._session_query()
                    .where(ss.c.student_id == student.id)
                    .order_by(ss.c.started_at, ss.c.id)
                )
            ).all()
            devs = (
                await c.execute(
                    select(sd.c.session_id, sd.c.name, sd.c.kind, sd.c.samples)
                    .join(ss, ss.c.id == sd.c.session_id)
                    .where(ss.c.student_id == student.id)
                    .order_by(sd.c.id)
                )
            ).all()
        by_session: dict[int, list[dict[str, Any]]] = {}
        for d in devs:
            by_session.setdefault(d.session_id, []).append(
                {"name": d.name, "kind": d.kind, "samples": int(d.samples)}
            )
        return [
            {
                "id": r.id,
                "started_at": r.started_at,
                "ended_at": r.ended_at,
                "duration_s": (r.ended_at - r.started_at) if r.ended_at is not None else None,
                "state": r.state,
                "desk": r.desk,
                "note": r.note,
                "therapist_note": r.therapist_note or "",
                "devices": by_session.get(r.id, []),
            }
            for r in rows
        ]

    async def session(self, session_id: int) -> SessionRow:
        """One session. Raises NotFoundError."""
        async with self.store.tx() as c:
            r = (
                await c.execute(self._session_query().where(s.sessions.c.id == session_id))
            ).first()
        if r is None:
            raise NotFoundError("session", str(session_id))
        return _session_row(r)

    async def session_rows(self, student: Student) -> list[SessionRow]:
        """The student's sessions as rows, oldest first."""
        ss = s.sessions
        async with self.store.tx() as c:
            rows = (
                await c.execute(
                    self._session_query()
                    .where(ss.c.student_id == student.id)
                    .order_by(ss.c.started_at, ss.c.id)
                )
            ).all()
        return [_session_row(r) for r in rows]

    async def set_therapist_note(self, session_id: int, text: str) -> None:
        """Replace the therapist's note on a session."""
        ss = s.sessions
        async with self.store.tx() as c:
            await c.execute(update(ss).where(ss.c.id == session_id).values(therapist_note=text))

    async def devices(self, session_id: int) -> list[DeviceInfo]:
        """The session's devices, as the desk's recording describes them."""
        sd = s.session_devices
        async with self.store.tx() as c:
            rows = (
                await c.execute(select(sd).where(sd.c.session_id == session_id).order_by(sd.c.id))
            ).all()
        return [
            DeviceInfo(
                r.name,
                r.kind,
                tuple(json.loads(r.channels)),
                r.serial,
                r.firmware,
                r.model,
                "",
                r.rate_hz,
                json.loads(r.calibration_json) if r.calibration_json else None,
            )
            for r in rows
        ]

    async def load_samples(self, session_id: int, device: str) -> Samples:
        """A device's samples in sequence order, exactly as recorded at the desk.

        Raises:
            NotFoundError: no such device in the session.
        """
        sd = s.session_devices
        async with self.store.tx() as c:
            dev = (
                await c.execute(
                    select(sd.c.id, sd.c.channels).where(
                        and_(sd.c.session_id == session_id, sd.c.name == device)
                    )
                )
            ).first()
            if dev is None:
                raise NotFoundError("device", device[:32], "the session lists its devices")
            parts = await _parts(c, dev.id)
        channels = tuple(json.loads(dev.channels))
        nch = len(channels)
        if not parts:
            return Samples(
                channels,
                np.zeros(0, np.int64),
                np.zeros(0, np.float64),
                np.zeros((0, nch), np.int32),
            )
        seq = np.concatenate([p[0] for p in parts])
        t = np.concatenate([p[1] for p in parts]).astype(np.float64)
        counts = np.concatenate([p[2] for p in parts]).astype(np.int32).reshape(len(seq), nch)
        return Samples(channels, seq, t, counts)

    async def events(self, session_id: int, kind: str | None = None) -> list[Event]:
        """The session's events in the order they were recorded at the desk."""
        e = s.events
        q = select(e).where(e.c.session_id == session_id)
        if kind is not None:
            q = q.where(e.c.kind == kind)
        async with self.store.tx() as c:
            rows = (await c.execute(q.order_by(e.c.desk_row))).all()
        return [Event(r.kind, r.host_t, r.device, r.device_t, json.loads(r.data)) for r in rows]

    async def metrics(self, session_id: int) -> list[dict[str, Any]]:
        """The live metric snapshots the desk recorded, in order."""
        m = s.metrics
        async with self.store.tx() as c:
            rows = (
                await c.execute(
                    select(m.c.device, m.c.host_t, m.c.data)
                    .where(m.c.session_id == session_id)
                    .order_by(m.c.desk_row)
                )
            ).all()
        return [
            {"device": r.device, "host_t": r.host_t, "metrics": json.loads(r.data)} for r in rows
        ]

    async def summaries(self, student_ids: list[int], since: float) -> dict[int, dict[str, Any]]:
        """Per student: ``{"sessions", "last_session", "sessions_since"}`` (since ``since``)."""
        ss = s.sessions
        if not student_ids:
            return {}
        async with self.store.tx() as c:
            rows = (
                await c.execute(
                    select(
                        ss.c.student_id,
                        func.count().label("n"),
                        func.max(ss.c.started_at).label("last"),
                        func.sum(case((ss.c.started_at >= since, 1), else_=0)).label("recent"),
                    )
                    .where(ss.c.student_id.in_(student_ids))
                    .group_by(ss.c.student_id)
                )
            ).all()
        return {
            r.student_id: {
                "sessions": int(r.n),
                "last_session": r.last,
                "sessions_since": int(r.recent or 0),
            }
            for r in rows
        }

    async def students_with_sessions_before(self, before: float) -> dict[int, str]:
        """``{student id: code}`` of students with a session started before ``before``."""
        ss, st = s.sessions, s.students
        async with self.store.tx() as c:
            rows = (
                await c.execute(
                    select(st.c.id, st.c.code)
                    .distinct()
                    .join(ss, ss.c.student_id == st.c.id)
                    .where(ss.c.started_at < before)
                )
            ).all()
        return {r.id: r.code for r in rows}

    async def delete_sessions(
        self, student: Student, before: float | None = None
    ) -> dict[str, int]:
        """Delete ``student``'s sessions (all, or those started before ``before``) and
        everything in them; what was removed (sessions, samples, events, metrics)."""
        ss, sd, b = s.sessions, s.session_devices, s.blocks
        q = select(ss.c.id).where(ss.c.student_id == student.id)
        if before is not None:
            q = q.where(ss.c.started_at < before)
        async with self.store.tx() as c:
            sids = [r.id for r in (await c.execute(q)).all()]
            counts = {"sessions": len(sids), "samples": 0, "events": 0, "metrics": 0}
            if not sids:
                return counts
            dev_ids = [
                r.id
                for r in (await c.execute(select(sd.c.id).where(sd.c.session_id.in_(sids)))).all()
            ]
            if dev_ids:
                for table in (b, s.segments):
                    counts["samples"] += int(
                        (
                            await c.execute(
                                select(func.coalesce(func.sum(table.c.n), 0)).where(
                                    table.c.device_id.in_(dev_ids)
                                )
                            )
                        ).scalar_one()
                    )
                    await c.execute(delete(table).where(table.c.device_id.in_(dev_ids)))
                await c.execute(delete(sd).where(sd.c.id.in_(dev_ids)))
            for kind, table in (("events", s.events), ("metrics", s.metrics)):
                res = await c.execute(delete(table).where(table.c.session_id.in_(sids)))
                counts[kind] = int(res.rowcount or 0)
            sv = s.session_values
            await c.execute(delete(sv).where(sv.c.session_id.in_(sids)))
            await c.execute(delete(ss).where(ss.c.id.in_(sids)))
        return counts
