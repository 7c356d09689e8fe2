"""The JSON API of signed-in people (docs/api.md): sign-in, caseload, sessions, goals, audit.

Every read of a student's data goes through :meth:`Api._student` or :meth:`Api._session`,
which answer 404 for anything outside the caller's caseload (the same answer as for something
that does not exist), and every such read is written to the access log.
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web

from finemotor.errors import NotFoundError, RefusedError
from finemotor.metrics.definitions import MetricDefinition, definitions_of
from finemotor.metrics.results import to_jsonable
from finemotor.recording import Event
from finemotor.relay.bus import RedisBus
from finemotor.report.analysis import DeviceAnalysis, marks_of, unique_marks
from finemotor.report.decimate import minmax_decimate
from finemotor.report.session_report import report_stem, write_session_report
from finemotor.server.export import student_archive
from finemotor.server.passwords import one_time_password
from finemotor.server.progress import Analyses, student_progress
from finemotor.server.records import Records, SessionRow
from finemotor.server.store import Retention, Store, Student, User
from finemotor.server.web_auth import (
    WRONG_LOGIN,
    LoginLimiter,
    clear_cookie,
    set_cookie,
    signed_in,
    web_session,
)

MAX_TRACE_POINTS = 20000
DEFAULT_TRACE_POINTS = 2000
RECENT_S = 30 * 86400.0
"""What "sessions this month" counts: the last 30 days."""
REASON_MAX = 500
NOTE_MAX = 2000


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, or 400 with a sentence."""
    if request.content_type != "application/json":
        raise RefusedError(400, "bad_request", "send JSON (Content-Type: application/json)")
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RefusedError(400, "bad_request", "the request body is not valid JSON") from exc


def _field(body: Any, key: str, kind: type = str, optional: bool = False) -> Any:
    if not isinstance(body, dict):
        raise RefusedError(400, "bad_request", "send a JSON object")
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise RefusedError(400, "bad_request", f"{key!r} is missing or not a {kind.__name__}")
    return value


def _finite(values: np.ndarray[Any, Any]) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values.tolist()]


def _clock(events: list[Event], device: str) -> dict[str, Any]:
    """How ``device``'s clock maps to host time: the median of ``host_t - device_t`` over the
    events the desk stamped with both (marks, link events), so a device second ``d`` is host
    time ``d + offset_s``; ``offset_s`` is None when no event says."""
    gaps = sorted(
        e.host_t - e.device_t
        for e in events
        if e.device == device and e.device_t is not None and math.isfinite(e.device_t)
    )
    if not gaps:
        return {"offset_s": None, "events": 0, "spread_s": None}
    mid = len(gaps) // 2
    median = gaps[mid] if len(gaps) % 2 else (gaps[mid - 1] + gaps[mid]) / 2.0
    return {"offset_s": median, "events": len(gaps), "spread_s": gaps[-1] - gaps[0]}


@dataclass(frozen=True)
class RetentionJob:
    """What the API knows of the server's hourly deletion of old sessions.

    Attributes:
        flag_days: ``finemotor server run --retention-days`` (in force while no admin set a
            retention; None: keep every session).
        changed: wakes the job at once after an admin changed the retention.
    """

    flag_days: float | None = None
    changed: Callable[[], None] = lambda: None


class Api:
    """The routes of :mod:`finemotor.server.api` on ``app``.

    Args:
        store, records: the server's data.
        secure: True when the server runs TLS (cookies are then Secure).
        live: a callable giving the relay's live sessions (``Relay.live``).
        bus: the Redis shared with the other server processes (sign-in limits).
        retention: the server's deletion of old sessions.
        analyses: the sessions' analyses (shared with the desks' API, which starts one when
            an upload completes).
    """

    def __init__(
        self,
        store: Store,
        records: Records,
        secure: bool,
        live: Any,
        bus: RedisBus | None = None,
        retention: RetentionJob | None = None,
        analyses: Analyses | None = None,
    ) -> None:
        self.store, self.records, self.secure, self.live = store, records, secure, live
        self.retention = retention or RetentionJob()
        self.limiter = LoginLimiter(bus=bus)
        self.analyses = analyses or Analyses(records)
        self._drawing = asyncio.Lock()

    def add_routes(self, app: web.Application) -> None:
        """Register every route."""
        r = app.router
        r.add_post("/api/login", self.login)
        r.add_post("/api/logout", self.logout)
        r.add_get("/api/me", self.me)
        r.add_post("/api/password", self.password)
        r.add_get("/api/students", self.students)
        r.add_get("/api/live", self.live_now)
        r.add_get("/api/students/{student}/sessions", self.student_sessions)
        r.add_get("/api/students/{student}/goals", self.goals)
        r.add_post("/api/students/{student}/goals", self.set_goal)
        r.add_get("/api/students/{student}/tasks", self.task_plan)
        r.add_put("/api/students/{student}/tasks", self.set_task_plan)
        r.add_get("/api/students/{student}/progress", self.progress)
        r.add_get("/api/students/{student}/export", self.export)
        r.add_delete("/api/students/{student}", self.delete_student)
        r.add_get("/api/sessions/{session}", self.session)
        r.add_get("/api/sessions/{session}/traces", self.traces)
        r.add_put("/api/sessions/{session}/note", self.set_note)
        r.add_get("/api/sessions/{session}/report.pdf", self.report)
        r.add_get("/api/audit", self.audit)
        r.add_get("/api/accounts", self.accounts)
        r.add_post("/api/accounts", self.add_account)
        r.add_post("/api/accounts/{email}/reset", self.reset_account)
        r.add_get("/api/retention", self.get_retention)
        r.add_put("/api/retention", self.set_retention)
        r.add_get("/api/schools", self.schools)
        r.add_post("/api/schools", self.add_school)
        r.add_post("/api/caseloads", self.add_caseload)
        r.add_post("/api/enrol-codes", self.enrol_code)
        r.add_get("/api/desks", self.desks)
        r.add_post("/api/desks/{desk}/revoke", self.revoke)

    # sign-in ----------------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.Response:
        """``POST /api/login {"email", "password"}``: sets the session cookie."""
        body = await read_json(request)
        email = _field(body, "email").strip().lower()[:254]
        password = _field(body, "password")
        address = request.remote or "?"
        await self.limiter.check(email, address)
        user = await self.store.check_password(email, password)
        if user is None:
            await self.limiter.failed(email, address)
            raise RefusedError(401, "wrong_login", WRONG_LOGIN)
        token, ws = await self.store.start_web_session(user)
        resp = web.json_response(
            {
                "email": user.email,
                "role": user.role,
                "csrf": ws.csrf,
                "expires_at": ws.expires_at,
                "must_change": user.must_change,
            }
        )
        set_cookie(resp, token, ws.expires_at - time.time(), self.secure)
        return resp

    async def logout(self, request: web.Request) -> web.Response:
        """``POST /api/logout``: ends this sign-in."""
        token = request.cookies.get("fm_session", "")
        if token:
            await self.store.end_web_session(token)
        resp = web.Response(status=204)
        clear_cookie(resp, self.secure)
        return resp

    async def me(self, request: web.Request) -> web.Response:
        """``GET /api/me``: who is signed in, and the CSRF token for state changes."""
        await signed_in(request, self.store, first_ok=True)
        ws = await web_session(request, self.store)
        assert ws is not None
        return web.json_response(
            {
                "email": ws.user.email,
                "role": ws.user.role,
                "csrf": ws.csrf,
                "expires_at": ws.expires_at,
                "must_change": ws.user.must_change,
            }
        )

    async def password(self, request: web.Request) -> web.Response:
        """``POST /api/password {"current", "new"}``: every other sign-in ends; this browser
        gets a fresh one."""
        user = await signed_in(request, self.store, first_ok=True)
        body = await read_json(request)
        address = request.remote or "?"
        await self.limiter.check(user.email, address)
        try:
            await self.store.change_password(user, _field(body, "current"), _field(body, "new"))
        except RefusedError as exc:
            if exc.reason == "wrong_password":
                await self.limiter.failed(user.email, address)
            raise
        token, ws = await self.store.start_web_session(user)
        resp = web.json_response({"csrf": ws.csrf, "expires_at": ws.expires_at})
        set_cookie(resp, token, ws.expires_at - time.time(), self.secure)
        return resp

    # caseload ---------------------------------------------------------------------------

    async def _student(self, request: web.Request, action: str = "view") -> tuple[User, Student]:
        user = await signed_in(request, self.store, "therapist")
        student = await self.store.student_for(user, request.match_info["student"])
        await self.store.log(user.email, action, student.code, request.path)
        return user, student

    async def students(self, request: web.Request) -> web.Response:
        """``GET /api/students``: my caseload, with sessions and who is live now."""
        user = await signed_in(request, self.store, "therapist")
        mine = await self.store.caseload(user)
        stats = await self.records.summaries([st.id for st in mine], time.time() - RECENT_S)
        live = {x["student"]: x for x in self.live() if x["publishing"]}
        goals = await self.store.goals_of(mine)
        out = []
        for st in mine:
            got = stats.get(st.id, {"sessions": 0, "last_session": None, "sessions_since": 0})
            now_live = live.get(st.code)
            out.append(
                {
                    "id": st.code,
                    "school": st.school,
                    "sessions": got["sessions"],
                    "last_session": got["last_session"],
                    "sessions_this_month": got["sessions_since"],
                    "live": {"watch": f"/view/{now_live['sid']}"} if now_live else None,
                    "goals": goals[st.id],
                }
            )
        return web.json_response(out)

    async def live_now(self, request: web.Request) -> web.Response:
        """``GET /api/live``: which students of my caseload are in a session now, each with
        the link to watch it (what the caseload page asks again while it is open: one query,
        not the whole caseload with its goals)."""
        user = await signed_in(request, self.store, "therapist")
        mine = {st.code for st in await self.store.caseload(user)}
        return web.json_response(
            [
                {"id": x["student"], "watch": f"/view/{x['sid']}"}
                for x in self.live()
                if x["publishing"] and x["student"] in mine
            ]
        )

    async def student_sessions(self, request: web.Request) -> web.Response:
        """``GET /api/students/{id}/sessions``: every session, oldest first."""
        _user, student = await self._student(request)
        return web.json_response(await self.records.sessions_of(student))

    async def goals(self, request: web.Request) -> web.Response:
        """``GET /api/students/{id}/goals[?history=1]``."""
        _user, student = await self._student(request)
        history = request.query.get("history") in ("1", "true")
        return web.json_response(await self.store.goals(student, history))

    async def set_goal(self, request: web.Request) -> web.Response:
        """``POST /api/students/{id}/goals {"metric", "target", "direction"?, "by"?,
        "note"?}``: targets in library units (N, %, %/min)."""
        user, student = await self._student(request, "set_goal")
        body = await read_json(request)
        target = body.get("target") if isinstance(body, dict) else None
        if not isinstance(target, (int, float)) or isinstance(target, bool):
            raise RefusedError(400, "bad_goal", "the target must be a number")
        goal = await self.store.set_goal(
            user,
            student,
            _field(body, "metric"),
            float(target),
            _field(body, "direction", optional=True),
            _field(body, "by", optional=True),
            _field(body, "note", optional=True) or "",
        )
        return web.json_response(goal, status=201)

    async def task_plan(self, request: web.Request) -> web.Response:
        """``GET /api/students/{id}/tasks[?history=1]``: the plan in force (``{"tasks": [],
        ...}`` when none), or every plan with ``history``."""
        _user, student = await self._student(request)
        history = request.query.get("history") in ("1", "true")
        plans = await self.store.task_plans(student, history)
        if history:
            return web.json_response(plans)
        none: dict[str, Any] = {"tasks": [], "set_at": None, "set_by": None, "replaced_at": None}
        return web.json_response(plans[-1] if plans else none)

    async def set_task_plan(self, request: web.Request) -> web.Response:
        """``PUT /api/students/{id}/tasks {"tasks": [...]}``: the tasks the desk offers for
        this student's next sessions (``[]``: none planned)."""
        user, student = await self._student(request, "set_tasks")
        body = await read_json(request)
        if not isinstance(body, dict) or "tasks" not in body:
            raise RefusedError(400, "bad_plan", 'send {"tasks": ["...", ...]}')
        return web.json_response(await self.store.set_task_plan(user, student, body["tasks"]))

    async def progress(self, request: web.Request) -> web.Response:
        """``GET /api/students/{id}/progress``: the goal metrics per complete session and,
        per goal in force, baseline, latest, points, trend and projected date."""
        _user, student = await self._student(request)
        rows = await self.records.session_rows(student)
        out = await student_progress(self.analyses, rows, await self.store.goals(student))
        return web.json_response(out, dumps=lambda o: json.dumps(o, allow_nan=False))

    # sessions ---------------------------------------------------------------------------

    async def _session(self, request: web.Request) -> tuple[User, int, Any]:
        user = await signed_in(request, self.store, "therapist")
        try:
            sid = int(request.match_info["session"])
        except ValueError:
            raise NotFoundError("session", request.match_info["session"][:20]) from None
        row = await self.records.session(sid)
        await self.store.student_for(user, row.student)
        await self.store.log(user.email, "view", row.student, request.path)
        return user, sid, row

    async def _analysis(self, row: SessionRow, device: str | None = None) -> list[DeviceAnalysis]:
        devices = (await self.analyses.of(row)).devices
        return [d for d in devices if device is None or d.name == device]

    async def session(self, request: web.Request) -> web.Response:
        """``GET /api/sessions/{id}``: facts, devices with calibration and metrics, what each
        metric means, marks, data quality and upload state."""
        _user, sid, row = await self._session(request)
        devices = await self.records.devices(sid)
        analyses = {a.name: a for a in await self._analysis(row)}
        events = await self.records.events(sid)
        per_device = {}
        definitions: dict[str, MetricDefinition] = {}
        for info in devices:
            a = analyses[info.name]
            cal = info.calibration if isinstance(info.calibration, dict) else None
            metrics = to_jsonable(a.summary) if a.summary is not None else None
            definitions.update(definitions_of(metrics))
            per_device[info.name] = {
                "name": info.name,
                "kind": info.kind,
                "channels": list(info.channels),
                "firmware": info.firmware,
                "serial": info.serial,
                "rate_hz": a.rate_hz,
                "samples": int(a.t.shape[0]),
                "calibrated": a.calibrated,
                "calibrated_at": cal.get("calibrated_at") if cal else None,
                "notes": a.notes,
                "metrics": metrics,
                "clock": _clock(events, info.name),
                "tasks": [
                    {"name": t.name, "from": t.start_t, "to": t.end_t, "ended": t.ended}
                    for t in a.tasks
                ],
            }
        quality = {
            "link_drops": sum(1 for e in events if e.kind in ("disconnect", "link_lost")),
            "events": len(events),
        }
        marks = [
            {"text": m.text, "host_t": m.host_t, "device": m.device, "device_t": m.device_t}
            for m in unique_marks(marks_of(events))
        ]
        return web.json_response(
            {
                "id": row.id,
                "student": row.student,
                "school": row.school,
                "desk": row.desk,
                "started_at": row.started_at,
                "ended_at": row.ended_at,
                "duration_s": (row.ended_at - row.started_at) if row.ended_at else None,
                "note": row.note,
                "therapist_note": row.therapist_note,
                "upload": {"state": row.state, "completed_at": row.completed_at},
                "devices": list(per_device.values()),
                "definitions": {p: d.to_json() for p, d in sorted(definitions.items())},
                "marks": marks,
                "quality": quality,
            },
            dumps=lambda o: json.dumps(o, allow_nan=False, default=str),
        )

    async def traces(self, request: web.Request) -> web.Response:
        """``GET /api/sessions/{id}/traces?device=NAME&points=N[&from=S&to=S]``: the forces
        downsampled to about N points per signal (a min/max envelope, so no peak is lost),
        on the device's clock; ``from``/``to`` (device seconds) zoom in."""
        _user, _sid, row = await self._session(request)
        device = request.query.get("device", "")
        try:
            points = int(request.query.get("points", DEFAULT_TRACE_POINTS))
            lo = float(request.query.get("from", "-inf"))
            hi = float(request.query.get("to", "inf"))
        except ValueError:
            raise RefusedError(400, "bad_request", "points, from and to are numbers") from None
        if not 2 <= points <= MAX_TRACE_POINTS:
            raise RefusedError(400, "bad_request", f"points is 2 to {MAX_TRACE_POINTS}")
        found = await self._analysis(row, device)
        if not found:
            raise NotFoundError("device", device[:32], "the session lists its devices")
        a = found[0]
        sel = (a.t >= lo) & (a.t <= hi)
        t = a.t[sel]
        signals = []
        for sig in a.signals:
            tt, yy = minmax_decimate(t, sig.values[sel], max(1, points // 2))
            signals.append(
                {"label": sig.label, "unit": sig.unit, "t": _finite(tt), "y": _finite(yy)}
            )
        return web.json_response(
            {
                "device": a.name,
                "kind": a.kind,
                "clock": "device",
                "samples": int(t.shape[0]),
                "span": [float(a.t[0]), float(a.t[-1])] if a.t.shape[0] else None,
                "signals": signals,
            }
        )

    async def set_note(self, request: web.Request) -> web.Response:
        """``PUT /api/sessions/{id}/note {"text"}``: the therapist's own note on a session
        (replaces the previous one; the desk's note stays as recorded)."""
        user, sid, row = await self._session(request)
        text = _field(await read_json(request), "text").strip()
        if len(text) > NOTE_MAX:
            raise RefusedError(400, "bad_note", f"a note has at most {NOTE_MAX} characters")
        await self.records.set_therapist_note(sid, text)
        await self.store.log(user.email, "note", row.student, f"session {sid}")
        return web.json_response({"therapist_note": text})

    async def report(self, request: web.Request) -> web.Response:
        """``GET /api/sessions/{id}/report.pdf``: the desk's session report, drawn here from
        the stored samples."""
        _user, sid, row = await self._session(request)
        analysis = await self.analyses.of(row)
        async with self._drawing:  # one drawing at a time: matplotlib is not thread-safe
            with tempfile.TemporaryDirectory(prefix="fm-report-") as folder:
                files = await asyncio.to_thread(write_session_report, analysis, Path(folder), True)
                data = files[-1].read_bytes()
        return web.Response(
            body=data,
            content_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{report_stem(sid)}.pdf"'},
        )

    # export and deletion ----------------------------------------------------------------

    def _reason(self, request: web.Request, body: Any = None) -> str:
        reason = (body or {}).get("reason") if isinstance(body, dict) else None
        reason = reason or request.query.get("reason", "")
        if not isinstance(reason, str) or not reason.strip():
            raise RefusedError(
                400, "no_reason", "say why (reason): the access log records it for the school"
            )
        return reason.strip()[:REASON_MAX]

    async def export(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/students/{id}/export?reason=...``: everything about the student, as one
        zip archive (a therapist on her caseload, or an admin)."""
        ws = await web_session(request, self.store)
        user = await signed_in(request, self.store)
        reason = self._reason(request)
        code = request.match_info["student"]
        if ws is not None and ws.user.role == "admin":
            student = await self.store.student(code)
        else:
            student = await self.store.student_for(user, code)
        data = await student_archive(self.store, self.records, student)
        await self.store.log(user.email, "export", student.code, f"{len(data)} bytes", reason)
        return web.Response(
            body=data,
            content_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{student.code}.zip"'},
        )

    async def delete_student(self, request: web.Request) -> web.Response:
        """``DELETE /api/students/{id} {"reason"}`` (admin): removes the student's data
        itself, and answers with the written confirmation."""
        user = await signed_in(request, self.store, "admin")
        body = await read_json(request)
        reason = self._reason(request, body)
        student = await self.store.student(request.match_info["student"])
        return web.json_response(
            await delete_student(self.store, self.records, student, user.email, reason)
        )

    async def accounts(self, request: web.Request) -> web.Response:
        """``GET /api/accounts`` (admin): ``[{"email", "role", "created_at", "must_change",
        "students", "schools"}]``."""
        await signed_in(request, self.store, "admin")
        return web.json_response(
            [a.__dict__ | {"schools": list(a.schools)} for a in (await self.store.accounts())]
        )

    async def add_account(self, request: web.Request) -> web.Response:
        """``POST /api/accounts {"email", "role"}`` (admin): 201 with ``{"email", "role",
        "password"}``, a one-time password shown only here; she chooses her own at her first
        sign-in."""
        admin = await signed_in(request, self.store, "admin")
        body = await read_json(request)
        password = one_time_password()
        user = await self.store.add_user(
            _field(body, "email"), _field(body, "role"), password, must_change=True
        )
        await self.store.log(admin.email, "add_user", None, f"{user.email} ({user.role})")
        return web.json_response(
            {"email": user.email, "role": user.role, "password": password}, status=201
        )

    async def reset_account(self, request: web.Request) -> web.Response:
        """``POST /api/accounts/{email}/reset`` (admin): a new one-time password (her
        sign-ins end; she chooses her own at the next): ``{"email", "password"}``."""
        admin = await signed_in(request, self.store, "admin")
        email = request.match_info["email"].strip().lower()
        if email == admin.email:
            raise RefusedError(400, "own_account", "change your own password on its page")
        password = one_time_password()
        await self.store.set_password(email, password, must_change=True)
        await self.store.log(admin.email, "reset_password", None, email)
        return web.json_response({"email": email, "password": password})

    def _retention_json(self, set_by_admin: Retention | None) -> dict[str, Any]:
        if set_by_admin is not None:
            return {
                "days": set_by_admin.days,
                "set_at": set_by_admin.set_at,
                "set_by": set_by_admin.set_by,
                "source": "admin",
            }
        flag = self.retention.flag_days
        return {
            "days": flag,
            "set_at": None,
            "set_by": None,
            "source": "server" if flag is not None else "none",
        }

    async def get_retention(self, request: web.Request) -> web.Response:
        """``GET /api/retention`` (admin): ``{"days", "set_at", "set_by", "source"}``, the
        retention in force; ``source`` is ``admin``, ``server`` (``--retention-days``) or
        ``none``."""
        await signed_in(request, self.store, "admin")
        return web.json_response(self._retention_json(await self.store.retention()))

    async def set_retention(self, request: web.Request) -> web.Response:
        """``PUT /api/retention {"days": N | null}`` (admin): keep sessions N days (30 to
        36500), or all of them; the deletion runs at once on this process, within the hour
        on the others."""
        user = await signed_in(request, self.store, "admin")
        body = await read_json(request)
        if not isinstance(body, dict) or "days" not in body:
            raise RefusedError(400, "bad_retention", 'send {"days": 365} or {"days": null}')
        set_by_admin = await self.store.set_retention(body["days"], user.email)
        self.retention.changed()
        return web.json_response(self._retention_json(set_by_admin))

    async def audit(self, request: web.Request) -> web.Response:
        """``GET /api/audit[?student=ID]`` (admin): the access log, newest first."""
        await signed_in(request, self.store, "admin")
        entries = await self.store.audit(request.query.get("student"))
        return web.json_response([e.__dict__ for e in entries])

    # admin ------------------------------------------------------------------------------

    async def schools(self, request: web.Request) -> web.Response:
        """``GET /api/schools`` (admin)."""
        await signed_in(request, self.store, "admin")
        return web.json_response(await self.store.schools())

    async def add_school(self, request: web.Request) -> web.Response:
        """``POST /api/schools {"name"}`` (admin)."""
        user = await signed_in(request, self.store, "admin")
        name = _field(await read_json(request), "name")
        await self.store.add_school(name)
        await self.store.log(user.email, "add_school", None, name)
        return web.json_response({"name": " ".join(name.split())}, status=201)

    async def add_caseload(self, request: web.Request) -> web.Response:
        """``POST /api/caseloads {"email", "student", "school"}`` (admin)."""
        user = await signed_in(request, self.store, "admin")
        body = await read_json(request)
        st = await self.store.add_to_caseload(
            _field(body, "email"), _field(body, "student"), _field(body, "school")
        )
        await self.store.log(user.email, "add_caseload", st.code, _field(body, "email"))
        return web.json_response({"student": st.code, "school": st.school}, status=201)

    async def enrol_code(self, request: web.Request) -> web.Response:
        """``POST /api/enrol-codes {"school"}`` (admin): a single-use code for a new desk."""
        user = await signed_in(request, self.store, "admin")
        school = _field(await read_json(request), "school")
        code, expires = await self.store.new_enrol_code(school)
        await self.store.log(user.email, "enrol_code", None, school)
        return web.json_response({"code": code, "expires_at": expires}, status=201)

    async def desks(self, request: web.Request) -> web.Response:
        """``GET /api/desks`` (admin)."""
        await signed_in(request, self.store, "admin")
        return web.json_response([d.__dict__ for d in await self.store.desks()])

    async def revoke(self, request: web.Request) -> web.Response:
        """``POST /api/desks/{id}/revoke`` (admin): the desk is cut off at once."""
        user = await signed_in(request, self.store, "admin")
        try:
            desk_id = int(request.match_info["desk"])
        except ValueError:
            raise NotFoundError("desk", request.match_info["desk"][:20]) from None
        desk = await self.store.revoke_desk(desk_id)
        await self.store.log(user.email, "revoke_desk", None, f"desk {desk.id} ({desk.name})")
        return web.json_response(desk.__dict__)


async def delete_student(
    store: Store, records: Records, student: Student, actor: str, reason: str
) -> dict[str, Any]:
    """Delete everything about ``student`` (sessions, samples, metrics, marks, goals; the
    access log keeps its entries under a pseudonym) and return the written confirmation."""
    removed = await records.delete_sessions(student)
    pseudonym = await store.forget_student(student)
    await store.log(actor, "delete", pseudonym, json.dumps(removed), reason)
    return {
        "deleted": student.code,
        "school": student.school,
        "removed": removed,
        "audit_pseudonym": pseudonym,
        "at": time.time(),
        "by": actor,
        "reason": reason,
        "confirmation": (
            f"All data of student {student.code} at {student.school} was deleted from this "
            f"server: {removed['sessions']} session(s), {removed['samples']} samples, "
            f"{removed['events']} events and marks, {removed['metrics']} metric snapshots, and "
            "the student's goals and caseload entries. The access log keeps its entries "
            f"under the pseudonym {pseudonym}. Copies outside this server (desk computers, "
            "exports, backups) are not touched."
        ),
    }
