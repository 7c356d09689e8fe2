"""The relay server (aiohttp): publishers push a session, viewers watch it over WebSockets.

Routes:
    ``GET /view/{sid}?t=VIEWER``: the therapist's page (403 without a valid viewer token).
    ``GET /static/...``: the page's script and style, and uPlot under ``/static/vendor/``.
    ``GET /ws/publish/{sid}``: the student's host (``Authorization: Bearer PUBLISHER``).
    ``GET /ws/view/{sid}?t=VIEWER``: a viewer.

Frames from the publisher go to every viewer as they are (JSON text, see
docs/therapist-view.md). Each viewer has a bounded queue drained by its own task: a slow
viewer loses its oldest frames (and is told how many), it never slows anyone else. Sessions
live in memory: after a relay restart the publisher registers its session again with the same
tokens, so open links keep working.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from finemotor.errors import FinemotorError
from finemotor.relay.tokens import digest, matches, valid_session_id
from finemotor.student import valid_student_id

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
UPLOT_FILES = ("uPlot.iife.min.js", "uPlot.min.css")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_PUBLISHER_KINDS = frozenset({"d", "m", "s", "hello", "ack"})
_CACHED_KINDS = frozenset({"m", "s", "hello"})
_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}


@dataclass(frozen=True)
class RelayLimits:
    """What the relay accepts.

    Attributes:
        max_msg_bytes: largest WebSocket message from a publisher.
        max_viewer_msg_bytes: largest message from a viewer.
        publisher_rate: publisher messages per second (token bucket; excess dropped).
        publisher_burst: the bucket's depth.
        viewer_queue: frames waiting per viewer; beyond, the oldest are dropped.
        marks_per_s: events a viewer may mark per second (bucket depth ``mark_burst``).
        mark_burst: see ``marks_per_s``.
        mark_chars: longest event text.
        max_sessions: sessions at once.
        max_viewers: viewers per session.
        max_ttl_s: longest session lifetime a publisher may ask for.
        idle_s: a session with neither publisher nor viewers is forgotten after this long.
    """

    max_msg_bytes: int = 64 * 1024
    max_viewer_msg_bytes: int = 1024
    publisher_rate: float = 400.0
    publisher_burst: float = 800.0
    viewer_queue: int = 512
    marks_per_s: float = 1.0
    mark_burst: float = 5.0
    mark_chars: int = 200
    max_sessions: int = 200
    max_viewers: int = 50
    max_ttl_s: float = 12 * 3600.0
    idle_s: float = 600.0


class _Bucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.level, self.last = rate, burst, burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.level = min(self.burst, self.level + (now - self.last) * self.rate)
        self.last = now
        if self.level < 1.0:
            return False
        self.level -= 1.0
        return True


class _Viewer:
    def __init__(self, ws: web.WebSocketResponse, size: int) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[str] = asyncio.Queue(size)
        self.dropped = 0
        self.reported = 0

    def offer(self, msg: str) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(msg)

    async def pump(self) -> None:
        while True:
            msg = await self.queue.get()
            if self.dropped != self.reported:
                self.reported = self.dropped
                await self.ws.send_str(json.dumps({"k": "drops", "n": self.dropped}))
            await self.ws.send_str(msg)


@dataclass
class _Session:
    sid: str
    pub_digest: str
    view_digest: str
    student: str
    expires_at: float
    publisher: web.WebSocketResponse | None = None
    viewers: set[_Viewer] = field(default_factory=set)
    latest: dict[str, str] = field(default_factory=dict)
    next_mark: int = 1
    dropped_in: int = 0
    idle_since: float | None = None

    def expired(self) -> bool:
        return time.time() >= self.expires_at

    def broadcast(self, msg: str) -> None:
        for v in self.viewers:
            v.offer(msg)


def _forbidden() -> web.Response:
    return web.Response(status=403, text="forbidden: this link is not valid (or has expired)\n")


@web.middleware
async def _headers(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        resp: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    if not resp.prepared:
        resp.headers.update(SECURITY_HEADERS)
    return resp


class Relay:
    """The relay server.

    Args:
        host: address to listen on (``127.0.0.1`` for the demo's embedded relay).
        port: TCP port (0: any free port).
        ssl_context: serve HTTPS/WSS with this context.
        limits: message size, rate and count limits.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        limits: RelayLimits | None = None,
    ) -> None:
        self.host, self.port, self.ssl_context = host, port, ssl_context
        self.limits = limits or RelayLimits()
        self.sessions: dict[str, _Session] = {}
        self.app = web.Application(middlewares=[_headers])
        self.app.router.add_get("/view/{sid}", self._page)
        self.app.router.add_get("/static/{name}", self._static)
        self.app.router.add_get("/static/vendor/{name}", self._vendor)
        self.app.router.add_get("/ws/publish/{sid}", self._publish)
        self.app.router.add_get("/ws/view/{sid}", self._view)
        self._runner: web.AppRunner | None = None
        self._reaper: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The relay's origin, ``http://host:port`` (``https`` with TLS)."""
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> str:
        """Listen; return :attr:`url`."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.host, self.port, ssl_context=self.ssl_context, reuse_address=True
        )
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise FinemotorError(
                f"the relay cannot listen on {self.host}:{self.port} ({exc.strerror}): "
                "choose another --port or stop what uses it"
            ) from exc
        server = site._server
        if self.port == 0 and server is not None:
            sockets = getattr(server, "sockets", None) or []
            self.port = int(sockets[0].getsockname()[1])
        self._reaper = asyncio.create_task(self._reap())
        logger.info("relay listening on %s", self.url)
        return self.url

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for sess in list(self.sessions.values()):
            await self._close_all(sess, WSCloseCode.GOING_AWAY, "relay stopping")
        self.sessions.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Relay:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- helpers -------------------------------------------------------------------------------

    def _viewer_session(self, request: web.Request) -> _Session | None:
        sess = self.sessions.get(request.match_info["sid"])
        token = request.query.get("t")
        if sess is None or sess.expired() or not matches(token, sess.view_digest):
            return None
        return sess

    async def _close_all(self, sess: _Session, code: int, why: str) -> None:
        sockets = [v.ws for v in sess.viewers]
        if sess.publisher is not None:
            sockets.append(sess.publisher)
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close(code=code, message=why.encode())

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for sid, sess in list(self.sessions.items()):
                if sess.publisher is not None or sess.viewers:
                    sess.idle_since = None
                elif sess.idle_since is None:
                    sess.idle_since = now
                elif now - sess.idle_since > self.limits.idle_s:
                    self.sessions.pop(sid, None)
                    continue
                if sess.expired():
                    sess.broadcast(json.dumps({"k": "end", "why": "the session has expired"}))
                    await asyncio.sleep(0.05)
                    await self._close_all(sess, WSCloseCode.POLICY_VIOLATION, "expired")
                    self.sessions.pop(sid, None)
                    logger.info("session %s expired", sid)

    # -- HTTP ----------------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.StreamResponse:
        if self._viewer_session(request) is None:
            return _forbidden()
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Content-Type": "text/html"})

    async def _static(self, request: web.Request) -> web.StreamResponse:
        return self._file(STATIC_DIR, request.match_info["name"], ("app.js", "app.css"))

    async def _vendor(self, request: web.Request) -> web.StreamResponse:
        return self._file(VENDOR_DIR, request.match_info["name"], UPLOT_FILES)

    @staticmethod
    def _file(folder: Path, name: str, allowed: tuple[str, ...]) -> web.StreamResponse:
        path = folder / name
        if name not in allowed or not path.is_file():
            return web.Response(status=404, text="not found\n")
        ctype = _STATIC_TYPES.get(path.suffix, "application/octet-stream")
        return web.FileResponse(path, headers={"Content-Type": ctype})

    # -- WebSockets ----------------------------------------------------------------------------

    async def _publish(self, request: web.Request) -> web.StreamResponse:
        sid = request.match_info["sid"]
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        sess = self.sessions.get(sid)
        if sess is None:
            sess = self._register(sid, token, request)
            if sess is None:
                return _forbidden()
        elif sess.expired() or not matches(token, sess.pub_digest):
            return _forbidden()
        old, sess.publisher = sess.publisher, None
        if old is not None:
            await old.close(code=WSCloseCode.GOING_AWAY, message=b"replaced")
        ws = web.WebSocketResponse(max_msg_size=self.limits.max_msg_bytes, heartbeat=10.0)
        await ws.prepare(request)
        sess.publisher = ws
        sess.broadcast('{"k":"pub","up":true}')
        logger.info("session %s: publisher connected", sid)
        bucket = _Bucket(self.limits.publisher_rate, self.limits.publisher_burst)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                if not bucket.take():
                    sess.dropped_in += 1
                    continue
                self._from_publisher(sess, msg.data)
        finally:
            if sess.publisher is ws:
                sess.publisher = None
                sess.broadcast('{"k":"pub","up":false}')
                logger.info("session %s: publisher disconnected", sid)
        return ws

    def _register(self, sid: str, token: str | None, request: web.Request) -> _Session | None:
        h = request.headers
        view_digest = h.get("X-Finemotor-Viewer-Digest", "")
        student = h.get("X-Finemotor-Student", "")
        try:
            expires = float(h.get("X-Finemotor-Expires", "0"))
        except ValueError:
            return None
        ok = (
            valid_session_id(sid)
            and token is not None
            and len(view_digest) == 64
            and valid_student_id(student)
            and expires > time.time()
            and len(self.sessions) < self.limits.max_sessions
        )
        if not ok or token is None:
            return None
        sess = _Session(
            sid,
            digest(token),
            view_digest.lower(),
            student,
            min(expires, time.time() + self.limits.max_ttl_s),
        )
        self.sessions[sid] = sess
        return sess

    def _from_publisher(self, sess: _Session, data: str) -> None:
        try:
            obj = json.loads(data)
        except ValueError:
            return
        if not isinstance(obj, dict) or obj.get("k") not in _PUBLISHER_KINDS:
            return
        kind = obj["k"]
        if kind in _CACHED_KINDS:
            sess.latest[f"{kind}:{obj.get('dev', '')}"] = data
        sess.broadcast(data)

    async def _view(self, request: web.Request) -> web.StreamResponse:
        sess = self._viewer_session(request)
        if sess is None:
            return _forbidden()
        if len(sess.viewers) >= self.limits.max_viewers:
            return web.Response(status=503, text="too many viewers on this session\n")
        ws = web.WebSocketResponse(max_msg_size=self.limits.max_viewer_msg_bytes, heartbeat=10.0)
        await ws.prepare(request)
        viewer = _Viewer(ws, self.limits.viewer_queue)
        up = "true" if sess.publisher is not None else "false"
        viewer.offer(f'{{"k":"pub","up":{up}}}')
        for cached in sess.latest.values():
            viewer.offer(cached)
        sess.viewers.add(viewer)
        pump = asyncio.create_task(viewer.pump())
        marks = _Bucket(self.limits.marks_per_s, self.limits.mark_burst)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT or not await self._from_viewer(
                    sess, viewer, msg.data, marks
                ):
                    await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"viewers only mark")
                    break
        finally:
            sess.viewers.discard(viewer)
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
        return ws

    async def _from_viewer(self, sess: _Session, viewer: _Viewer, data: str, b: _Bucket) -> bool:
        """Handle a viewer's message; False if it is not one a viewer may send."""
        try:
            obj = json.loads(data)
        except ValueError:
            return False
        if not isinstance(obj, dict):
            return False
        if obj.get("k") == "ping":
            return True
        text, cid = obj.get("text"), obj.get("cid")
        if obj.get("k") != "mark" or not isinstance(text, str) or not isinstance(cid, int):
            return False
        text = text.strip()[: self.limits.mark_chars]
        if not text:
            return True
        why = None
        if not b.take():
            why = "too many events at once: wait a second and mark again"
        elif sess.publisher is None:
            why = "the student's computer is reconnecting: mark again when it is back"
        if why is not None:
            viewer.offer(json.dumps({"k": "markerr", "cid": cid, "why": why}))
            return True
        mark = {"k": "mark", "id": sess.next_mark, "text": text, "at": time.time() * 1000.0}
        sess.next_mark += 1
        viewer.offer(json.dumps({"k": "marksent", "cid": cid, "id": mark["id"]}))
        publisher = sess.publisher
        if publisher is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await publisher.send_str(json.dumps(mark))
        return True
