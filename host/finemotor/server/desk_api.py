"""The desks' API (docs/api.md, "Desks"): enrolment, and the upload of recorded sessions.

A desk authenticates with ``Authorization: Bearer CREDENTIAL`` (from ``finemotor enrol``).
A revoked desk gets 403 on every request from the moment it is revoked; an unknown credential
401. A desk may upload only for students on a caseload at its own school.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from finemotor.errors import RefusedError
from finemotor.relay.bus import RedisBus, SharedBuckets
from finemotor.server.api import read_json
from finemotor.server.records import Records
from finemotor.server.store import Desk, Store

ENROLMENTS_PER_MIN = 10.0
"""Enrolment attempts per source address per minute (codes are short: no guessing)."""


def bearer(request: web.Request) -> str:
    """The token of ``Authorization: Bearer TOKEN``, or ''."""
    auth = request.headers.get("Authorization", "")
    return auth[7:].strip() if auth.startswith("Bearer ") else ""


class DeskApi:
    """The desks' routes on ``app``."""

    def __init__(
        self,
        store: Store,
        records: Records,
        bus: RedisBus | None = None,
        on_complete: Callable[[int], None] | None = None,
    ) -> None:
        self.store, self.records = store, records
        self.on_complete = on_complete
        """Called with a session's id when its upload completes."""
        self.enrolments = SharedBuckets("enrol", ENROLMENTS_PER_MIN / 60.0, ENROLMENTS_PER_MIN, bus)

    def add_routes(self, app: web.Application) -> None:
        """Register every route."""
        r = app.router
        r.add_post("/api/enrol", self.enrol)
        r.add_get("/api/desk", self.whoami)
        r.add_put("/api/desk/sessions/{n}", self.put_session)
        r.add_post("/api/desk/sessions/{n}/blocks", self.blocks)
        r.add_post("/api/desk/sessions/{n}/events", self.events)
        r.add_post("/api/desk/sessions/{n}/metrics", self.metrics)
        r.add_post("/api/desk/sessions/{n}/complete", self.complete)

    async def desk(self, request: web.Request) -> Desk:
        """The requesting desk, or 401 (unknown credential) / 403 (revoked)."""
        credential = bearer(request)
        desk = await self.store.desk(credential, revoked=True)
        if desk is None:
            raise RefusedError(
                401,
                "not_enrolled",
                "this desk is not enrolled with this server: run finemotor enrol with a new code",
            )
        if desk.revoked_at is not None:
            raise RefusedError(
                403,
                "revoked",
                "this desk was revoked by the server's admin: ask for a new enrolment code",
            )
        return desk

    @staticmethod
    def _number(request: web.Request) -> int:
        try:
            n = int(request.match_info["n"])
        except ValueError:
            raise RefusedError(400, "bad_request", "a desk session number is an integer") from None
        if not 0 < n < 2**62:
            raise RefusedError(400, "bad_request", "a desk session number is positive")
        return n

    async def enrol(self, request: web.Request) -> web.Response:
        """``POST /api/enrol {"code", "name"}``: the desk's credential (shown once)."""
        if not await self.enrolments.take(request.remote or "?"):
            raise RefusedError(429, "too_many", "too many enrolment attempts: wait a minute")
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("code"), str):
            raise RefusedError(400, "bad_request", 'send {"code": ..., "name": ...}')
        name = body.get("name") if isinstance(body.get("name"), str) else "desk"
        enrolment = await self.store.enrol(body["code"], name or "desk")
        await self.store.log(
            f"desk {enrolment.desk_id} ({name})", "enrol", None, f"school {enrolment.school}"
        )
        return web.json_response(
            {
                "desk_id": enrolment.desk_id,
                "school": enrolment.school,
                "credential": enrolment.credential,
            },
            status=201,
        )

    async def whoami(self, request: web.Request) -> web.Response:
        """``GET /api/desk``: this desk, its school, the students it may record, and the
        tasks their therapists planned (``plans``: student -> tasks, for those with a plan)."""
        desk = await self.desk(request)
        students = await self.store.desk_students(desk)
        plans = await self.store.desk_plans(desk)
        return web.json_response(
            {
                "desk_id": desk.id,
                "name": desk.name,
                "school": desk.school,
                "students": students,
                "plans": {code: plans[code] for code in students if code in plans},
            }
        )

    async def put_session(self, request: web.Request) -> web.Response:
        """``PUT /api/desk/sessions/{n}``: describe (or update) the desk's session n."""
        desk = await self.desk(request)
        return web.json_response(
            await self.records.put_session(desk, self._number(request), await read_json(request))
        )

    async def blocks(self, request: web.Request) -> web.Response:
        """``POST /api/desk/sessions/{n}/blocks {"device", "blocks": [...]}``."""
        desk = await self.desk(request)
        body: Any = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("device"), str):
            raise RefusedError(400, "bad_chunk", "a chunk names its device")
        return web.json_response(
            await self.records.add_blocks(
                desk, self._number(request), body["device"], body.get("blocks")
            )
        )

    async def _rows(self, request: web.Request, kind: str) -> web.Response:
        desk = await self.desk(request)
        body: Any = await read_json(request)
        rows = body.get("rows") if isinstance(body, dict) else None
        return web.json_response(
            await self.records.add_rows(desk, self._number(request), kind, rows)
        )

    async def events(self, request: web.Request) -> web.Response:
        """``POST /api/desk/sessions/{n}/events {"rows": [...]}``."""
        return await self._rows(request, "events")

    async def metrics(self, request: web.Request) -> web.Response:
        """``POST /api/desk/sessions/{n}/metrics {"rows": [...]}``."""
        return await self._rows(request, "metrics")

    async def complete(self, request: web.Request) -> web.Response:
        """``POST /api/desk/sessions/{n}/complete {"devices": {...}, "events", "metrics"}``:
        200 with ``"state": "complete"``, or 409 with what does not agree."""
        desk = await self.desk(request)
        out = await self.records.complete(desk, self._number(request), await read_json(request))
        if out["state"] == "complete" and self.on_complete is not None:
            self.on_complete(int(out["id"]))
        return web.json_response(out, status=409 if "mismatch" in out else 200)
