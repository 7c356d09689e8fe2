"""``finemotor server run``: the relay and the store in one aiohttp service.

:class:`Server` owns the store, the relay (:class:`finemotor.relay.Relay`, admitting only
enrolled desks as publishers, and signed-in therapists as viewers of their caseload's live
sessions, beside the guest's token link), the JSON APIs, and two background duties: cutting
off the live sessions of a desk the moment it is revoked (checked every
``revoke_check_s``), and deleting sessions older than the retention period (hourly).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from typing import Any

from aiohttp import web
from sqlalchemy.engine import URL

from finemotor.errors import NotFoundError, RefusedError, StoreError
from finemotor.relay.bus import RedisBus
from finemotor.relay.limits import RelayLimits
from finemotor.relay.server import SECURITY_HEADERS, Relay
from finemotor.relay.tokens import DESK_HEADER
from finemotor.server.api import Api, RetentionJob, delete_student
from finemotor.server.desk_api import DeskApi
from finemotor.server.pages import Pages
from finemotor.server.progress import Analyses
from finemotor.server.records import Records
from finemotor.server.store import Store
from finemotor.server.web_auth import csrf_middleware, web_session
from finemotor.sync.wire import MAX_BODY_BYTES

logger = logging.getLogger(__name__)

REVOKE_CHECK_S = 2.0
RETENTION_EVERY_S = 3600.0
DATABASE_DOWN = "the server's database is not answering: try again in a minute"


def _json_error(status: int, reason: str, message: str) -> web.Response:
    headers = dict(SECURITY_HEADERS)
    if status in (429, 503):
        headers["Retry-After"] = "30"
    return web.json_response({"error": message, "reason": reason}, status=status, headers=headers)


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """The library's errors as JSON with a sentence (API) or plain text (pages)."""
    api = request.path.startswith("/api/")
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except RefusedError as exc:
        status, reason, message = exc.status, exc.reason, str(exc)
    except NotFoundError as exc:
        status, reason, message = 404, "not_found", str(exc)
    except StoreError as exc:
        logger.error("database: %s", exc)
        status, reason, message = 503, "database", DATABASE_DOWN
    if api:
        return _json_error(status, reason, message)
    return web.Response(status=status, text=message + "\n", headers=SECURITY_HEADERS)


class _Admission:
    """Enrolled desks publish; signed-in therapists watch their caseload's live sessions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def publisher(self, request: web.Request, student: str) -> str | None:
        try:
            desk = await self.store.desk(request.headers.get(DESK_HEADER, ""))
            if desk is None or not await self.store.desk_may_serve(desk, student):
                return None
        except StoreError as exc:
            logger.error("database: %s", exc)
            return None
        return f"desk:{desk.id}"

    async def viewer(self, request: web.Request, student: str) -> bool:
        try:
            ws = await web_session(request, self.store)
            if ws is None or ws.user.role != "therapist" or ws.user.must_change:
                return False
            await self.store.student_for(ws.user, student)
        except (NotFoundError, StoreError):
            return False
        await self.store.log(ws.user.email, "watch_live", student, request.path)
        return True


class Server:
    """The finemotor server (see the module docstring).

    Args:
        url: the database (:func:`finemotor.server.database.database_url`).
        host, port, ssl_context: where to listen (port 0: any free port).
        retention_days: delete sessions older than this while no admin set a retention
            (None: keep them); the admin's setting, kept in the database, wins.
        limits: the relay's limits.
        secure_cookies: mark the sign-in cookie Secure without TLS here (a TLS proxy in
            front); with ``ssl_context`` it always is.
        redis_url: share live sessions and rate limits with the other server processes
            through this Redis (None: this process works alone).
        trusted_proxies: load balancers' addresses whose ``X-Forwarded-For`` is believed.
    """

    def __init__(
        self,
        url: URL,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        retention_days: float | None = None,
        limits: RelayLimits | None = None,
        secure_cookies: bool = False,
        redis_url: str | None = None,
        trusted_proxies: frozenset[str] = frozenset(),
    ) -> None:
        self.db_url = url
        self.redis_url = redis_url
        self.trusted_proxies = trusted_proxies
        self.secure_cookies = secure_cookies or ssl_context is not None
        self.host, self.port, self.ssl_context = host, port, ssl_context
        self.retention_days = retention_days
        self.limits = limits
        self.store: Store | None = None
        self.relay: Relay | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._retention_changed = asyncio.Event()
        self._analyses: Analyses | None = None

    @property
    def url(self) -> str:
        """The server's origin, ``http://host:port`` (``https`` with TLS)."""
        assert self.relay is not None
        return self.relay.url

    async def start(self) -> str:
        """Open the database (migrating it), listen; return :attr:`url`.

        Raises:
            StoreError: the database cannot be reached; FinemotorError: the port is taken.
        """
        store = self.store = await Store.open(self.db_url)
        records = Records(store)
        bus = RedisBus(self.redis_url) if self.redis_url else None
        app = web.Application(
            middlewares=[_errors, csrf_middleware(store)], client_max_size=MAX_BODY_BYTES
        )
        relay = self.relay = Relay(
            self.host,
            self.port,
            self.ssl_context,
            self.limits,
            admission=_Admission(store),
            app=app,
            bus=bus,
            trusted_proxies=self.trusted_proxies,
        )
        analyses = self._analyses = Analyses(records)
        Api(
            store,
            records,
            self.secure_cookies,
            relay.live,
            bus,
            RetentionJob(self.retention_days, self._retention_changed.set),
            analyses,
        ).add_routes(app)
        DeskApi(store, records, bus, on_complete=analyses.warm).add_routes(app)
        Pages(store, records).add_routes(app)
        try:
            url = await relay.start()
        except BaseException:
            await store.close()
            raise
        self.port = relay.port
        self._tasks = [
            asyncio.create_task(self._watch_revocations()),
            asyncio.create_task(self._retention(records)),
        ]
        return url

    async def stop(self) -> None:
        """Stop the background duties, the relay, and close the database."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._analyses is not None:
            await self._analyses.close()
        if self.relay is not None:
            await self.relay.stop()
        if self.store is not None:
            await self.store.close()

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _watch_revocations(self) -> None:
        assert self.relay is not None and self.store is not None
        while True:
            await asyncio.sleep(REVOKE_CHECK_S)
            owners = {
                int(x["owner"].split(":")[1])
                for x in self.relay.live()
                if isinstance(x["owner"], str) and x["owner"].startswith("desk:")
            }
            try:
                revoked = await self.store.revoked_among(owners)
            except StoreError as exc:
                logger.error("database: %s", exc)
                continue
            for desk_id in revoked:
                self.relay.cut(f"desk:{desk_id}", "this desk was revoked by the server's admin")

    async def _retention(self, records: Records) -> None:
        """Every hour (and at once when an admin changes it here), delete the sessions older
        than the retention: the admin's setting, else ``--retention-days``."""
        while True:
            self._retention_changed.clear()
            try:
                days = await retention_days(records.store, self.retention_days)
                if days is not None:
                    await apply_retention(records, days)
            except StoreError as exc:
                logger.error("database: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._retention_changed.wait(), RETENTION_EVERY_S)


async def retention_days(store: Store, flag: float | None) -> float | None:
    """The retention in force: the admin's setting if one was made, else the server's flag
    (None: keep every session)."""
    set_by_admin = await store.retention()
    if set_by_admin is None:
        return flag
    return None if set_by_admin.days is None else float(set_by_admin.days)


async def apply_retention(records: Records, days: float) -> dict[str, int]:
    """Delete every session started more than ``days`` ago; totals removed (each student's
    deletion is written to the access log)."""
    before = time.time() - days * 86400.0
    store = records.store
    total = {"sessions": 0, "samples": 0, "events": 0, "metrics": 0}
    for code in (await records.students_with_sessions_before(before)).values():
        student = await store.student(code)
        removed = await records.delete_sessions(student, before)
        await store.log(
            "retention", "delete", code, json.dumps(removed), f"older than {days:g} days"
        )
        for k in total:
            total[k] += removed[k]
    if total["sessions"]:
        logger.info("retention: %d session(s) older than %g days deleted", total["sessions"], days)
    return total


__all__ = ["Server", "apply_retention", "delete_student", "retention_days"]
