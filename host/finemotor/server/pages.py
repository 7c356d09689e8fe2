"""The therapist's workspace in the browser: the pages ``finemotor server run`` serves.

Each page is a static HTML file from ``server/static/`` with its script and style (no inline
script or style: the relay's strict Content-Security-Policy covers every response); the
scripts get every figure from the JSON API (:mod:`finemotor.server.api`). The routes here only
decide who may open which page: signed out, a page sends you to sign in; a student or session
outside your caseload is 404, the same answer as one that does not exist.

| Page | Who |
|---|---|
| ``/signin`` | anyone |
| ``/`` | sends a therapist to ``/caseload``, an admin to ``/admin`` |
| ``/caseload``, ``/students/{id}``, ``/students/{id}/report``, ``/sessions/{id}`` | therapist |
| ``/admin`` | admin |
| ``/password`` | anyone signed in |
| ``/ui/{file}``, ``/favicon.ico`` | the pages' scripts, styles and icon |
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from finemotor.errors import NotFoundError
from finemotor.server.records import Records
from finemotor.server.store import Store, User
from finemotor.server.web_auth import web_session

STATIC = Path(__file__).resolve().parent / "static"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


class Pages:
    """The page routes (see the module docstring)."""

    def __init__(self, store: Store, records: Records) -> None:
        self.store, self.records = store, records

    def add_routes(self, app: web.Application) -> None:
        """Register every page."""
        r = app.router
        r.add_get("/", self.home)
        r.add_get("/signin", self.signin)
        r.add_get("/password", self.password)
        r.add_get("/caseload", self.caseload)
        r.add_get("/students/{student}", self.student)
        r.add_get("/students/{student}/report", self.report)
        r.add_get("/sessions/{session}", self.session)
        r.add_get("/admin", self.admin)
        r.add_get("/ui/{name}", self.asset)
        r.add_get("/favicon.ico", self.icon)

    @staticmethod
    def _page(name: str, status: int = 200) -> web.FileResponse:
        return web.FileResponse(
            STATIC / name, status=status, headers={"Content-Type": "text/html; charset=utf-8"}
        )

    async def _who(self, request: web.Request) -> User | None:
        ws = await web_session(request, self.store)
        return None if ws is None else ws.user

    async def _need(self, request: web.Request, role: str | None, first_ok: bool = False) -> User:
        """The signed-in person, or a redirect: to sign in; to choose her own password first
        (signed in with a one-time one, unless ``first_ok``); home (another role's page)."""
        user = await self._who(request)
        if user is None:
            raise web.HTTPFound(f"/signin?next={quote(request.path_qs, safe='/')}")
        if user.must_change and not first_ok:
            raise web.HTTPFound("/password?first=1")
        if role is not None and user.role != role:
            raise web.HTTPFound("/")
        return user

    async def home(self, request: web.Request) -> web.StreamResponse:
        """``/``: where the signed-in person starts."""
        user = await self._need(request, None)
        raise web.HTTPFound("/admin" if user.role == "admin" else "/caseload")

    async def signin(self, _request: web.Request) -> web.StreamResponse:
        """``/signin``."""
        return self._page("signin.html")

    async def password(self, request: web.Request) -> web.StreamResponse:
        """``/password``: change my password."""
        await self._need(request, None, first_ok=True)
        return self._page("password.html")

    async def caseload(self, request: web.Request) -> web.StreamResponse:
        """``/caseload``."""
        await self._need(request, "therapist")
        return self._page("caseload.html")

    async def _mine(self, request: web.Request) -> bool:
        user = await self._need(request, "therapist")
        try:
            await self.store.student_for(user, request.match_info["student"])
        except NotFoundError:
            return False
        return True

    async def student(self, request: web.Request) -> web.StreamResponse:
        """``/students/{id}``: 404 unless on my caseload."""
        return self._page("student.html") if await self._mine(request) else self._missing()

    async def report(self, request: web.Request) -> web.StreamResponse:
        """``/students/{id}/report``: the printable progress report."""
        return self._page("report.html") if await self._mine(request) else self._missing()

    async def session(self, request: web.Request) -> web.StreamResponse:
        """``/sessions/{id}``: 404 unless its student is on my caseload."""
        user = await self._need(request, "therapist")
        try:
            row = await self.records.session(int(request.match_info["session"]))
            await self.store.student_for(user, row.student)
        except (NotFoundError, ValueError):
            return self._missing()
        return self._page("session.html")

    async def admin(self, request: web.Request) -> web.StreamResponse:
        """``/admin``."""
        await self._need(request, "admin")
        return self._page("admin.html")

    def _missing(self) -> web.StreamResponse:
        return self._page("404.html", status=404)

    async def icon(self, _request: web.Request) -> web.StreamResponse:
        """``/favicon.ico`` (the live view's page asks for it too)."""
        return web.FileResponse(STATIC / "icon.svg", headers={"Content-Type": "image/svg+xml"})

    async def asset(self, request: web.Request) -> web.StreamResponse:
        """``/ui/{name}``: a script or style of the pages (nothing else)."""
        name = request.match_info["name"]
        path = STATIC / name
        kind = _TYPES.get(path.suffix)
        if kind is None or "/" in name or name.startswith(".") or not path.is_file():
            return self._missing()
        return web.FileResponse(path, headers={"Content-Type": kind})
