"""Store and forward: the desk's recorded sessions go to its server, and nothing is lost.

For each session the uploader keeps, in the recording's ``uploads`` table, how far it has got
(the last block, event and metric row the server acknowledged) and the state: ``recorded``
(only here), ``uploading`` (partly on the server), ``complete`` (the server confirmed counts
and digests), or ``not_on_caseload`` (the server refuses this student for this desk). Every
chunk is idempotent on the server, so a desk killed mid-upload, a network loss or a server
restart only means sending a chunk again. A session is completed when it has ended (or when
it was interrupted long ago); if the server's counts or digests disagree, everything is sent
again once. Nothing on the desk is removed by uploading.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from finemotor.errors import SyncError
from finemotor.recording import Recording, default_db_path, write_transaction
from finemotor.sync.credential import DeskCredential, unreachable
from finemotor.sync.wire import CHUNK_BYTES, Block, device_description, device_digest

INTERRUPTED_AFTER_S = 6 * 3600.0
"""A session with no end recorded counts as interrupted (and is completed as it is) once it
started this long ago: longer than any session runs."""
ROWS_PER_CHUNK = 2000
PAGE_ROWS = 512
"""Blocks read from the recording at a time."""
REQUEST_TIMEOUT_S = 30.0
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0


@dataclass(frozen=True)
class UploadState:
    """Where one of the desk's sessions stands.

    Attributes:
        session: the desk's session number.
        student: the pseudonymous student id.
        state: ``recorded``, ``uploading``, ``complete`` or ``not_on_caseload``.
        problem: why the last attempt stopped, in a sentence ('' if none).
        server_id: the session's id on the server, once it has one.
    """

    session: int
    student: str
    state: str
    problem: str = ""
    server_id: int | None = None


def upload_states(path: Path | None = None) -> dict[int, UploadState]:
    """Every recorded session's upload state (sessions never tried are ``recorded``)."""
    path = path or default_db_path()
    if not path.exists():
        return {}
    with Recording(path) as rec:
        tables = {r[0] for r in rec.query("SELECT name FROM sqlite_master WHERE type='table'")}
        if "sessions" not in tables:
            return {}
        rows = rec.query(
            "SELECT s.id, s.student, coalesce(u.state, 'recorded'), coalesce(u.problem, ''), "
            "u.server_id FROM sessions s "
            + (
                "LEFT JOIN uploads u ON u.session_id = s.id "
                if "uploads" in tables
                else "LEFT JOIN (SELECT NULL AS session_id, NULL AS state, NULL AS problem, "
                "NULL AS server_id) u ON 0 "
            )
            + "ORDER BY s.id"
        )
    return {r[0]: UploadState(r[0], r[1], r[2], r[3], r[4]) for r in rows}


class Uploader:
    """Uploads a desk's sessions to its server.

    Args:
        credential: this desk's enrolment.
        db: the recording database (default: the data directory's).
        deadline_s: how long one :meth:`sync` may keep retrying a server that does not
            answer before it gives up (what is recorded stays, the next sync resumes).
        progress: called with a sentence as each session advances.
    """

    def __init__(
        self,
        credential: DeskCredential,
        db: Path | None = None,
        deadline_s: float = 60.0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.cred = credential
        self.db = db or default_db_path()
        self.deadline_s = deadline_s
        self.progress = progress or (lambda _msg: None)
        self._http: aiohttp.ClientSession | None = None
        self._deadline = 0.0

    # the local side -------------------------------------------------------------------

    def _cursor(self, session: int) -> dict[str, Any]:
        with Recording(self.db) as rec:
            rows = rec.query(
                "SELECT state, block_row, event_row, metric_row, server_id FROM uploads "
                "WHERE session_id = ?",
                (session,),
            )
        if not rows:
            return {"state": "recorded", "block_row": 0, "event_row": 0, "metric_row": 0}
        state, b, e, m, sid = rows[0]
        return {"state": state, "block_row": b, "event_row": e, "metric_row": m, "server_id": sid}

    def _save(self, session: int, **values: Any) -> None:
        with write_transaction(self.db) as conn:
            conn.execute(
                "INSERT INTO uploads (session_id, state) VALUES (?, 'recorded') "
                "ON CONFLICT(session_id) DO NOTHING",
                (session,),
            )
            sets = ", ".join(f"{k} = ?" for k in values)
            conn.execute(
                f"UPDATE uploads SET {sets} WHERE session_id = ?", (*values.values(), session)
            )

    def _description(self, rec: Recording, session: int) -> dict[str, Any]:
        info = rec.session(session)
        return {
            "student": info.student,
            "started_at": info.started_at,
            "ended_at": info.ended_at,
            "note": info.note,
            "devices": [device_description(d) for d in rec.devices(session)],
        }

    def _summary(self, rec: Recording, session: int) -> dict[str, Any]:
        devices: dict[str, Any] = {}
        for d in rec.devices(session):
            seen: dict[int, str] = {}
            n = 0
            for seq0, count, t, counts in rec.query(
                "SELECT b.seq0, b.n, b.t, b.counts FROM blocks b JOIN devices d "
                "ON b.device_id = d.id WHERE d.session_id = ? AND d.name = ? ORDER BY b.id",
                (session, d.name),
            ):
                if seq0 not in seen:
                    seen[seq0] = Block(seq0, count, t, counts).digest()
                    n += count
            devices[d.name] = {
                "samples": n,
                "blocks": len(seen),
                "sha256": device_digest(seen[k] for k in sorted(seen)),
            }
        events = rec.query("SELECT count(*) FROM events WHERE session_id = ?", (session,))[0][0]
        metrics = rec.query("SELECT count(*) FROM metrics WHERE session_id = ?", (session,))[0][0]
        return {"devices": devices, "events": events, "metrics": metrics}

    # the wire -------------------------------------------------------------------------

    async def _call(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        """One request, retried with back-off on network errors, 429, 5xx and "busy", until
        the deadline; the final status and JSON answer."""
        assert self._http is not None
        delay = BACKOFF_FIRST_S
        while True:
            try:
                async with self._http.request(
                    method, f"{self.cred.server}{path}", json=body, headers=self.cred.headers()
                ) as resp:
                    try:
                        answer = await resp.json(content_type=None)
                    except ValueError:
                        answer = {}
                    if not isinstance(answer, dict):
                        answer = {}
                    retry = resp.status in (429, 502, 503, 504) or (
                        resp.status == 409 and answer.get("reason") == "busy"
                    )
                    if not retry:
                        self._raise_for_desk(resp.status, answer)
                        return resp.status, answer
                    wait = (
                        float(resp.headers.get("Retry-After", delay))
                        if resp.status != 409
                        else delay
                    )
                    failure: SyncError = SyncError(
                        "busy", "the server is busy: the upload resumes later", resp.status, wait
                    )
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                failure, wait = unreachable(exc), delay
            if time.monotonic() + wait > self._deadline:
                raise failure
            await asyncio.sleep(min(wait, BACKOFF_MAX_S) * random.uniform(0.8, 1.2))
            delay = min(delay * 2.0, BACKOFF_MAX_S)

    @staticmethod
    def _raise_for_desk(status: int, answer: dict[str, Any]) -> None:
        reason = answer.get("reason")
        if status == 401:
            raise SyncError("not_enrolled", str(answer.get("error", "not enrolled")), status)
        if status == 403 and reason == "revoked":
            raise SyncError("revoked", str(answer.get("error", "revoked")), status)

    # one session ----------------------------------------------------------------------

    async def _blocks(self, rec: Recording, session: int, n: int, after: int) -> None:
        """Send the blocks recorded after row ``after`` (read a page at a time, off the event
        loop), one device per chunk; the cursor advances as each chunk is acknowledged."""
        sql = (
            "SELECT b.id, d.name, b.seq0, b.n, b.t, b.counts FROM blocks b JOIN devices d "
            "ON b.device_id = d.id WHERE d.session_id = ? AND b.id > ? ORDER BY b.id LIMIT ?"
        )
        chunk: list[dict[str, Any]] = []
        device, size, last_row = "", 0, after

        async def flush() -> None:
            nonlocal chunk, size
            if chunk:
                status, answer = await self._call(
                    "POST", f"/api/desk/sessions/{n}/blocks", {"device": device, "blocks": chunk}
                )
                if status != 200:
                    raise SyncError("refused", str(answer.get("error", status)), status)
                await asyncio.to_thread(self._save, session, block_row=last_row)
            chunk, size = [], 0

        cursor = after
        while True:
            page = await asyncio.to_thread(rec.query, sql, (session, cursor, PAGE_ROWS))
            if not page:
                break
            for row_id, name, seq0, count, t, counts in page:
                if chunk and (name != device or size + len(t) + len(counts) > CHUNK_BYTES):
                    await flush()
                device = name
                chunk.append(Block(seq0, count, t, counts).to_json())
                size += len(t) + len(counts)
                last_row = row_id
            cursor = page[-1][0]
        await flush()

    async def _rows(self, rec: Recording, session: int, n: int, kind: str, after: int) -> None:
        if kind == "events":
            sql = (
                "SELECT id, device, host_t, device_t, kind, data FROM events "
                "WHERE session_id = ? AND id > ? ORDER BY id"
            )
        else:
            sql = (
                "SELECT id, device, host_t, NULL, NULL, data FROM metrics "
                "WHERE session_id = ? AND id > ? ORDER BY id"
            )
        rows = await asyncio.to_thread(rec.query, sql, (session, after))
        for i in range(0, len(rows), ROWS_PER_CHUNK):
            part = rows[i : i + ROWS_PER_CHUNK]
            body = [
                {
                    "row": r[0],
                    "device": r[1],
                    "host_t": r[2],
                    "device_t": r[3],
                    "kind": r[4],
                    "data": json.loads(r[5]),
                }
                for r in part
            ]
            status, answer = await self._call(
                "POST", f"/api/desk/sessions/{n}/{kind}", {"rows": body}
            )
            if status != 200:
                raise SyncError("refused", str(answer.get("error", status)), status)
            self._save(
                session, **{("event_row" if kind == "events" else "metric_row"): part[-1][0]}
            )

    async def upload(self, session: int, final: bool | None = None) -> UploadState:
        """Upload what is new of one session and, when it is final, complete it.

        Args:
            final: complete the session (None: if it has ended, or was interrupted long ago).

        Raises:
            SyncError: the server cannot be reached before the deadline, the desk is not
                enrolled or revoked, or the server refused (it says why).
        """
        if self._http is not None:
            return await self._upload(session, final)
        self._deadline = time.monotonic() + self.deadline_s
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        ) as http:
            self._http = http
            try:
                return await self._upload(session, final)
            finally:
                self._http = None

    async def _upload(self, session: int, final: bool | None) -> UploadState:
        with Recording(self.db) as rec:
            info = rec.session(session)
            cur = self._cursor(session)
            if cur["state"] == "complete":
                return UploadState(session, info.student, "complete", "", cur.get("server_id"))
            if final is None:
                final = info.ended_at is not None or (
                    time.time() - info.started_at > INTERRUPTED_AFTER_S
                )
            status, answer = await self._call(
                "PUT", f"/api/desk/sessions/{session}", self._description(rec, session)
            )
            if status == 403 and answer.get("reason") == "not_on_caseload":
                problem = str(answer.get("error", "not on a caseload"))
                self._save(session, state="not_on_caseload", problem=problem)
                return UploadState(session, info.student, "not_on_caseload", problem)
            if status != 200:
                raise SyncError("refused", str(answer.get("error", status)), status)
            self._save(session, state="uploading", server_id=answer.get("id"), problem="")
            for attempt in range(2):
                await self._blocks(rec, session, session, cur["block_row"])
                await self._rows(rec, session, session, "events", cur["event_row"])
                await self._rows(rec, session, session, "metrics", cur["metric_row"])
                if not final:
                    return UploadState(session, info.student, "uploading", "", answer.get("id"))
                summary = await asyncio.to_thread(self._summary, rec, session)
                status, done = await self._call(
                    "POST", f"/api/desk/sessions/{session}/complete", summary
                )
                if status == 200 and done.get("state") == "complete":
                    self._save(session, state="complete", confirmed_at=time.time())
                    return UploadState(session, info.student, "complete", "", done.get("id"))
                if status != 409 or attempt == 1:
                    raise SyncError(
                        "mismatch",
                        f"session {session}: the server's copy does not match this desk's "
                        f"({json.dumps(done.get('mismatch', done.get('error', status)))}); "
                        "everything stays on this desk: try finemotor sync again",
                        status,
                    )
                self.progress(f"session {session}: the server's copy differs: sending it again")
                cur = {"block_row": 0, "event_row": 0, "metric_row": 0}
                self._save(session, block_row=0, event_row=0, metric_row=0)
        raise AssertionError("unreachable")

    async def sync(self, sessions: list[int] | None = None) -> list[UploadState]:
        """Upload every session not yet complete (or just ``sessions``); their states.

        A session the server refuses is reported and the others go on; a server that cannot
        be reached, or a revoked desk, stops the sync (raises SyncError after recording each
        session's problem).
        """
        states = upload_states(self.db)
        todo = (
            sessions
            if sessions is not None
            else [n for n, st in states.items() if st.state != "complete"]
        )
        self._deadline = time.monotonic() + self.deadline_s
        out: list[UploadState] = []
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            self._http = http
            try:
                for n in todo:
                    self.progress(f"session {n}: uploading")
                    try:
                        got = await self._upload(n, None)
                    except SyncError as exc:
                        self._save(n, problem=str(exc), last_try=time.time())
                        if exc.reason in ("unreachable", "busy", "not_enrolled", "revoked"):
                            raise
                        got = UploadState(
                            n, states[n].student if n in states else "?", "uploading", str(exc)
                        )
                    self.progress(f"session {n}: {got.state}")
                    out.append(got)
            finally:
                self._http = None
        return out
