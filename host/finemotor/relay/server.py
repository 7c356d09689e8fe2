"""The relay server (aiohttp): publishers push a session, viewers watch it over WebSockets.

Routes:
    ``GET /view/{sid}?t=VIEWER``: the therapist's page (403 without a valid viewer token).
    ``GET /static/...``: the page's script and style, and uPlot under ``/static/vendor/``.
    ``GET /ws/publish/{sid}``: the student's host (``Authorization: Bearer PUBLISHER``).
    ``GET /ws/view/{sid}?t=VIEWER&i=PAGE``: a viewer (``i``: the page instance, so a page that
    reconnects takes back its own place).

Frames from the publisher are checked (:mod:`finemotor.relay.frames`) and go to every viewer
as they are (JSON text, see docs/therapist-view.md). Each viewer has a bounded queue drained by
its own task: a slow viewer loses its oldest frames (and is told how many), and one that takes
longer than ``send_timeout_s`` to accept a frame is cut; it never slows anyone else. Every
close has a deadline, and expiry, idle-forgetting and shutdown run per session, so no socket
can stall the relay. Sessions live in memory: after a relay restart the publisher registers
its session again with the same tokens, so open links keep working.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aiohttp import WSCloseCode, WSMsgType, web, web_response

from finemotor.errors import FinemotorError
from finemotor.redact import redact
from finemotor.relay.bus import HEARTBEAT_S, PRESENCE_S, RedisBus, SessionRecord, SharedBuckets
from finemotor.relay.frames import (
    CACHED_KINDS,
    DATA,
    DROPS,
    END,
    HELLO,
    MARK,
    MARKERR,
    MARKSENT,
    METRICS,
    PUB,
    WATCH,
    BadFrameError,
    PublisherFrame,
    check_publisher,
    check_viewer,
    valid_instance,
)
from finemotor.relay.limits import Bucket, KeyedBuckets, RelayLimits
from finemotor.relay.tokens import (
    EXPIRES_HEADER,
    STUDENT_HEADER,
    VIEWER_DIGEST_HEADER,
    digest,
    matches,
    valid_session_id,
)
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
SERVER_HEADER = "finemotor"
"""What the relay calls itself in ``Server`` (no version: nothing for a scanner to match)."""
TRY_AGAIN_LATER = 1013
"""WebSocket close code for a viewer refused because its session has too many viewers."""
_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
_REAP_EVERY_S = 0.5
_PRUNE_EVERY_S = 10.0
_AIOHTTP_LOGGERS = (
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
)

__all__ = ["Relay", "RelayLimits"]


class _OneLineRedacted(logging.Filter):
    """aiohttp's own log lines, made safe: one line, no traceback, no token or URL (its
    parser's errors quote the request line, which carries the viewer token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f": {type(exc).__name__}: {exc}"
        record.msg = redact(" ".join(text.split()))[:300]
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


_LOG_FILTER = _OneLineRedacted()


def _harden_aiohttp() -> None:
    """aiohttp's own logs through the redacting filter, and no version in ``Server``.

    The responses aiohttp makes itself for a request it cannot parse (400) bypass the app's
    ``on_response_prepare``; they take the default ``Server`` value from
    ``aiohttp.web_response.SERVER_SOFTWARE`` ("Python/3.x aiohttp/3.y"), so that default is
    set here (the client's User-Agent has its own copy and is unchanged).
    """
    setattr(web_response, "SERVER_SOFTWARE", SERVER_HEADER)  # noqa: B010 (not exported)
    for name in _AIOHTTP_LOGGERS:
        log = logging.getLogger(name)
        if _LOG_FILTER not in log.filters:
            log.addFilter(_LOG_FILTER)


class _Peer:
    """A socket with the means to cut it: the WebSocket and its transport."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws = ws
        self.transport = request.transport

    def cut(self) -> None:
        """Drop the connection now, without waiting for anything to drain."""
        if self.transport is not None:
            self.transport.abort()

    async def send(self, msg: str, timeout: float) -> bool:
        """Hand ``msg`` to the socket within ``timeout``; False (and the socket cut) if not."""
        try:
            async with asyncio.timeout(timeout):
                await self.ws.send_str(msg)
        except TimeoutError:
            self.cut()
            return False
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def close(self, code: int, why: str, timeout: float) -> None:
        """Close with ``code``; cut the connection if that takes longer than ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                await self.ws.close(code=code, message=why.encode())
        except Exception:  # a stuck or broken socket: cut it, whatever went wrong
            self.cut()


class _Viewer(_Peer):
    def __init__(
        self, ws: web.WebSocketResponse, request: web.Request, limits: RelayLimits
    ) -> None:
        super().__init__(ws, request)
        self.limits = limits
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.ready = asyncio.Event()
        self.dropped = 0
        self.reported = 0
        self.held: list[bytes] | None = None
        """While set, frames wait here (the viewer is joining: its first frames come first)."""
        self.sending_since: float | None = None

    def offer(self, msg: str | bytes) -> None:
        """Queue a frame (UTF-8 bytes, the same object for every viewer of a broadcast)."""
        if isinstance(msg, str):
            msg = msg.encode()
        if self.held is not None:
            self.held.append(msg)
            return
        self.queue.append(msg)
        self.queued_bytes += len(msg)
        while len(self.queue) > 1 and (
            len(self.queue) > self.limits.viewer_queue
            or self.queued_bytes > self.limits.viewer_queue_bytes
        ):
            self.queued_bytes -= len(self.queue.popleft())
            self.dropped += 1
        self.ready.set()

    async def pump(self) -> None:
        """Hand the queued frames to the socket, oldest first. A send that does not finish
        within ``send_timeout_s`` is cut by the relay's reaper (:meth:`stuck`), not by a timer
        per frame: the common case, a socket that takes the frame at once, costs no timer."""
        while True:
            await self.ready.wait()
            self.ready.clear()
            while self.queue:
                msg = self.queue.popleft()
                self.queued_bytes -= len(msg)
                if self.dropped != self.reported:
                    self.reported = self.dropped
                    if not await self._send_now(json.dumps({"k": DROPS, "n": self.dropped})):
                        return
                if not await self._send_now(msg):
                    return

    async def _send_now(self, msg: str | bytes) -> bool:
        self.sending_since = time.monotonic()
        try:
            data = msg.encode() if isinstance(msg, str) else msg
            await self.ws.send_frame(data, WSMsgType.TEXT)
        except (ConnectionError, RuntimeError):
            return False
        finally:
            self.sending_since = None
        return True

    def stuck(self, now: float) -> bool:
        """True (and the socket cut) if a send has waited longer than ``send_timeout_s``."""
        since = self.sending_since
        if since is not None and now - since > self.limits.send_timeout_s:
            self.cut()
            return True
        return False


@dataclass
class _Session:
    sid: str
    pub_digest: str
    view_digest: str
    student: str
    expires_at: float
    address: str
    limits: RelayLimits
    publisher: _Peer | None = None
    devices: frozenset[str] = frozenset()
    viewers: dict[str, _Viewer] = field(default_factory=dict)
    reserved: dict[str, float] = field(default_factory=dict)
    latest: dict[tuple[str, str], str] = field(default_factory=dict)
    cache_bytes: int = 0
    published: bool = False
    next_mark: int = 1
    dropped_in: int = 0
    idle_since: float | None = None
    owner: str | None = None
    remote_up: bool = False
    """With a bus: another process holds this session's publisher (last heard)."""
    unshared: set[tuple[str, str]] = field(default_factory=set)
    """With a bus: kept frames newer here than in Redis (written at the next heartbeat)."""
    watching_elsewhere: dict[str, tuple[int, float]] = field(default_factory=dict)
    """With a bus, where the publisher is here: viewers on other processes (process id ->
    count and when it was heard, monotonic s)."""
    told_watching: int = 0
    """The viewer count the publisher was last told (a new connection starts at 0)."""
    publisher_since: float = 0.0
    """When (monotonic s) the publisher connected here."""
    rate: Bucket = field(init=False)
    marks: Bucket = field(init=False)

    def __post_init__(self) -> None:
        self.rate = Bucket(self.limits.publisher_rate, self.limits.publisher_burst)
        self.marks = Bucket(self.limits.marks_per_s, self.limits.mark_burst)

    def expired(self) -> bool:
        return time.time() >= self.expires_at

    def record(self) -> SessionRecord:
        return SessionRecord(
            self.sid, self.pub_digest, self.view_digest, self.student, self.expires_at, self.owner
        )

    def ttl_s(self, idle_s: float) -> float:
        """How long its shared record lasts unless renewed: until it ends, or idle."""
        return max(0.001, min(self.expires_at - time.time(), idle_s))

    def active(self) -> bool:
        return self.publisher is not None or bool(self.viewers)

    def broadcast(self, msg: str | bytes) -> None:
        """``msg`` to every viewer here, encoded once."""
        if not self.viewers:
            return
        data = msg.encode() if isinstance(msg, str) else msg
        for v in self.viewers.values():
            v.offer(data)

    def watching(self, now: float) -> int:
        """Viewers watching now, here and (with a bus) on processes heard from lately."""
        stale = [p for p, (_, at) in self.watching_elsewhere.items() if now - at > PRESENCE_S]
        for process in stale:
            del self.watching_elsewhere[process]
        return len(self.viewers) + sum(n for n, _ in self.watching_elsewhere.values())

    def peers(self) -> list[_Peer]:
        out: list[_Peer] = list(self.viewers.values())
        if self.publisher is not None:
            out.append(self.publisher)
        return out


class Admission(Protocol):
    """Who may publish and view, beyond the tokens (the server's accounts and desks).

    Without one the relay is open: any host may register a session, and its viewer token is
    the only way in. With one, a publisher must also be admitted, and a viewer without the
    token may be admitted by who she is (a signed-in therapist whose caseload holds the
    student).
    """

    async def publisher(self, request: web.Request, student: str) -> str | None:
        """The owner of a session being published for ``student`` (a desk), or None to
        refuse it."""

    async def viewer(self, request: web.Request, student: str) -> bool:
        """True if the request's sender may watch ``student``'s session without its token."""


def _forbidden() -> web.Response:
    return web.Response(status=403, text="forbidden: this link is not valid (or has expired)\n")


def _not_found() -> web.Response:
    """A viewer outside its rights: the answer for a session that never existed."""
    return web.Response(status=404, text="not found: this link is not valid (or has expired)\n")


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


def forwarded_for(trusted: frozenset[str]) -> Any:
    """A middleware taking the client's address from ``X-Forwarded-For`` when the request
    comes from one of the ``trusted`` load balancers (their last hop: the address the balancer
    saw), so per-address limits count desks and browsers, not the balancer."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.remote in trusted:
            hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
            if hops and hops[-1]:
                request = request.clone(remote=hops[-1][:64])
        response: web.StreamResponse = await handler(request)
        return response

    return middleware


async def _server_header(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER_HEADER


class Relay:
    """The relay server.

    Args:
        host: address to listen on (``127.0.0.1`` for the demo's embedded relay).
        port: TCP port (0: any free port).
        ssl_context: serve HTTPS/WSS with this context.
        limits: message size, rate, count and time limits.
        admission: who may publish and view beyond the tokens (the server's accounts).
        app: the application to add the relay's routes to (the server's).
        bus: share live sessions with other processes through Redis.
        trusted_proxies: addresses of load balancers whose ``X-Forwarded-For`` is believed.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        limits: RelayLimits | None = None,
        admission: Admission | None = None,
        app: web.Application | None = None,
        bus: RedisBus | None = None,
        trusted_proxies: frozenset[str] = frozenset(),
    ) -> None:
        self.host, self.port, self.ssl_context = host, port, ssl_context
        self.admission = admission
        self.bus = bus
        self._elsewhere: list[dict[str, Any]] = []
        self.limits = limits or RelayLimits()
        self.sessions: dict[str, _Session] = {}
        self.dropped_in = 0
        """Publisher messages dropped by the per-address rate limit."""
        self.cache_bytes = 0
        lim = self.limits
        self._address_rate = KeyedBuckets(lim.address_rate, lim.address_burst)
        self._registrations = SharedBuckets(
            "register", lim.registrations_per_min / 60.0, lim.registration_burst, bus
        )
        self.app = app if app is not None else web.Application()
        if trusted_proxies:
            self.app.middlewares.insert(0, forwarded_for(trusted_proxies))
        self.app.middlewares.append(_headers)
        self.app.on_response_prepare.append(_server_header)
        self.app.router.add_get("/view/{sid}", self._page)
        self.app.router.add_get("/static/{name}", self._static)
        self.app.router.add_get("/static/vendor/{name}", self._vendor)
        self.app.router.add_get("/ws/publish/{sid}", self._publish)
        self.app.router.add_get("/ws/view/{sid}", self._view)
        self._runner: web.AppRunner | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._heart: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._pruned_at = 0.0

    @property
    def url(self) -> str:
        """The relay's origin, ``http://host:port`` (``https`` with TLS)."""
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> str:
        """Listen; return :attr:`url`."""
        _harden_aiohttp()
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=self.limits.close_timeout_s,
        )
        if self.bus is not None:
            try:
                await self.bus.start(self)
            except BaseException:
                await self._runner.cleanup()
                raise
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.host, self.port, ssl_context=self.ssl_context, reuse_address=True
        )
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            if self.bus is not None:
                await self.bus.stop()
            raise FinemotorError(
                f"the relay cannot listen on {self.host}:{self.port} ({exc.strerror}): "
                "choose another --port or stop what uses it"
            ) from exc
        server = site._server
        if self.port == 0 and server is not None:
            sockets = getattr(server, "sockets", None) or []
            self.port = int(sockets[0].getsockname()[1])
        self._reaper = asyncio.create_task(self._reap())
        if self.bus is not None:
            self._heart = asyncio.create_task(self._heartbeat())
        logger.info("relay listening on %s port %d", self.host, self.port)
        return self.url

    async def stop(self) -> None:
        """Close every connection (each within ``close_timeout_s``) and stop listening."""
        for task in (self._reaper, self._heart):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        sessions = list(self.sessions.values())
        self.sessions.clear()
        if self.bus is not None:  # another process takes these publishers at once
            await asyncio.gather(
                *(self.bus.absent(s.sid) for s in sessions if s.publisher is not None)
            )
        timeout = self.limits.close_timeout_s
        peers = [p for sess in sessions for p in sess.peers()]
        await asyncio.gather(
            *(p.close(WSCloseCode.GOING_AWAY, "relay stopping", timeout) for p in peers)
        )
        for task in list(self._closing):
            task.cancel()
        await asyncio.gather(*self._closing, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.bus is not None:
            await self.bus.stop()

    async def __aenter__(self) -> Relay:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- sessions' lifetimes --------------------------------------------------------------------

    async def _find(self, sid: str) -> _Session | None:
        """Session ``sid``: held here, or (with a bus) registered on another process."""
        sess = self.sessions.get(sid)
        if sess is not None or self.bus is None or not valid_session_id(sid):
            return sess
        rec = await self.bus.record(sid)
        sess = self.sessions.get(sid)  # the lookup awaited: look again
        if sess is not None or rec is None or rec.sid != sid:
            return sess
        sess = _Session(
            sid,
            rec.pub_digest,
            rec.view_digest,
            rec.student,
            rec.expires_at,
            "",
            self.limits,
            owner=rec.owner,
            published=True,
        )
        self.sessions[sid] = sess
        return sess

    def _broadcast(self, sess: _Session, msg: str) -> None:
        """``msg`` to the session's viewers here and, with a bus, on every other process."""
        sess.broadcast(msg)
        if self.bus is not None:
            self.bus.publish(sess.sid, msg)

    def _watch_changed(self, sess: _Session) -> None:
        """Tell the session's publisher how many viewers watch, when that changed: directly
        when it is here, else (with a bus) through the control channel to its process."""
        publisher = sess.publisher
        if publisher is not None:
            n = sess.watching(time.monotonic())
            if n != sess.told_watching:
                sess.told_watching = n
                out = json.dumps({"k": WATCH, "n": n})
                self._in_background(publisher.send(out, self.limits.send_timeout_s))
        elif self.bus is not None:
            self.bus.control(sess.sid, {"op": "watch", "n": len(sess.viewers)})

    def _viewers_changed(self, sess: _Session) -> None:
        """This process's viewers of the session changed (or a heartbeat renews them): say so
        in Redis (the session's viewer limit) and to the publisher."""
        if self.bus is not None:
            self.bus.count_viewers(sess.sid, len(sess.viewers))
        self._watch_changed(sess)

    async def _viewer_session(self, request: web.Request) -> _Session | None:
        sess = await self._find(request.match_info["sid"])
        if sess is None or sess.expired():
            return None
        if matches(request.query.get("t"), sess.view_digest):
            return sess
        if self.admission is not None and await self.admission.viewer(request, sess.student):
            return sess
        return None

    def live(self) -> list[dict[str, Any]]:
        """The live sessions: ``{"sid", "student", "owner", "publishing"}``; with a bus, those
        of every process (as of the last heartbeat, every ``HEARTBEAT_S``)."""
        here = [
            {
                "sid": sess.sid,
                "student": sess.student,
                "owner": sess.owner,
                "publishing": sess.publisher is not None or sess.remote_up,
            }
            for sess in self.sessions.values()
            if not sess.expired()
        ]
        known = {x["sid"] for x in here}
        return here + [x for x in self._elsewhere if x["sid"] not in known]

    def cut(self, owner: str, why: str) -> int:
        """End every session of ``owner`` now (a revoked desk); how many were ended."""
        ended = [sess for sess in self.sessions.values() if sess.owner == owner]
        for sess in ended:
            self._forget(sess)
            self._in_background(self._end(sess, why))
            logger.info("session %s ended: its desk was revoked", sess.sid)
        if self.bus is not None:
            for x in [x for x in self._elsewhere if x["owner"] == owner]:
                self._in_background(self.bus.forget(x["sid"]))
            self._elsewhere = [x for x in self._elsewhere if x["owner"] != owner]
        return len(ended)

    def _in_background(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _forget(self, sess: _Session, ended: bool = True) -> None:
        """Let go of a session here; ``ended``: it is over everywhere (with a bus, its shared
        record goes too)."""
        if self.sessions.get(sess.sid) is sess:
            del self.sessions[sess.sid]
        self.cache_bytes -= sess.cache_bytes
        sess.cache_bytes = 0
        sess.latest.clear()
        bus = self.bus
        if bus is not None:

            async def unsubscribe() -> None:
                await bus.unsubscribe(sess.sid, frames=True)
                await bus.unsubscribe(sess.sid, frames=False)
                if ended:
                    await bus.forget(sess.sid)

            self._in_background(unsubscribe())

    async def _end(self, sess: _Session, why: str = "the session has expired") -> None:
        """An ended session: tell its viewers, then close its sockets, each on its own
        deadline (the session's slot is already free)."""
        self._broadcast(sess, json.dumps({"k": END, "why": why}))
        await asyncio.sleep(0.05)
        timeout = self.limits.close_timeout_s
        await asyncio.gather(
            *(p.close(WSCloseCode.POLICY_VIOLATION, "expired", timeout) for p in sess.peers())
        )

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(_REAP_EVERY_S)
            self._reap_once(time.monotonic())

    def _reap_once(self, now: float) -> None:
        lim = self.limits
        for sess in list(self.sessions.values()):
            if sess.expired():
                self._forget(sess)
                self._in_background(self._end(sess))
                logger.info("session %s expired", sess.sid)
                continue
            for page in [p for p, until in sess.reserved.items() if until < now]:
                del sess.reserved[page]
            for viewer in list(sess.viewers.values()):
                if viewer.stuck(now):
                    logger.info("session %s: a viewer stopped reading: cut", sess.sid)
            if sess.publisher is not None or sess.viewers:
                sess.idle_since = None
                continue
            if sess.idle_since is None:
                sess.idle_since = now
            idle = now - sess.idle_since
            if self.bus is not None and idle > lim.viewer_grace_s:
                # nothing of it here: its record lives on in Redis while another process
                # holds it, and is forgotten there when idle everywhere
                self._forget(sess, ended=False)
            elif idle > lim.idle_s or (not sess.published and idle > lim.unpublished_s):
                self._forget(sess)
                logger.info("session %s forgotten (idle)", sess.sid)
        if now - self._pruned_at >= _PRUNE_EVERY_S:  # refilled buckets: nothing to keep
            self._pruned_at = now
            self._address_rate.prune()

    # -- the bus (several processes) -----------------------------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            await self._beat()

    async def _beat(self, rewrite: bool = False) -> None:
        """Renew this process's records and presence; learn the sessions held elsewhere;
        tell viewers here when a publisher elsewhere vanished (its process died)."""
        bus = self.bus
        assert bus is not None
        idle = self.limits.idle_s
        held = [s for s in self.sessions.values() if s.active() and not s.expired()]
        publishing = [s.sid for s in held if s.publisher is not None]
        latest: dict[str, dict[str, str]] = {}
        for sess in held:
            if sess.publisher is None or not (rewrite or sess.unshared):
                continue
            keys = sess.latest.keys() if rewrite else sess.unshared
            latest[sess.sid] = {f"{k[0]}:{k[1]}": sess.latest[k] for k in keys if k in sess.latest}
            sess.unshared = set()
        await bus.renew([(s.record(), s.ttl_s(idle)) for s in held], publishing, latest)
        records = await bus.live()
        where = await bus.publishers(
            [r.sid for r in records]
            + [s.sid for s in held if s.publisher is None and s.sid not in publishing]
        )
        for sess in held:
            if sess.viewers:  # this process's count renewed
                self._viewers_changed(sess)
            elif sess.watching_elsewhere:  # counts from elsewhere expire: the publisher hears
                self._watch_changed(sess)
            if sess.publisher is not None:
                continue
            up = bool(where.get(sess.sid))
            if up != sess.remote_up:
                sess.remote_up = up
                if not up:  # its process is gone without a word: say so here
                    sess.broadcast(json.dumps({"k": PUB, "up": False}))
        self._elsewhere = [
            {
                "sid": r.sid,
                "student": r.student,
                "owner": r.owner,
                "publishing": bool(where.get(r.sid)),
            }
            for r in records
            if r.sid not in self.sessions and r.expires_at > time.time()
        ]

    def on_frames(self, sid: str, data: bytes) -> None:
        """A frame published on another process (its UTF-8 bytes, passed on as they came), for
        the viewers of ``sid`` here."""
        sess = self.sessions.get(sid)
        if sess is None:
            return
        if data.startswith((b'{"k":"pub"', b'{"k": "pub"')):
            with contextlib.suppress(ValueError):
                sess.remote_up = bool(json.loads(data).get("up"))
        sess.broadcast(data)

    def on_control(self, sid: str, message: dict[str, Any]) -> None:
        """A control message for the publisher of ``sid``, held here."""
        sess = self.sessions.get(sid)
        if sess is None or sess.publisher is None or self.bus is None:
            return
        op = message.get("op")
        if op == "taken" and message.get("from") != self.bus.process:
            old, sess.publisher = sess.publisher, None  # it reconnected to another process
            bus, viewers = self.bus, bool(sess.viewers)

            async def moved() -> None:
                if viewers:  # from now on its frames come through Redis
                    await bus.subscribe(sid)
                await old.close(WSCloseCode.GOING_AWAY, "replaced", self.limits.close_timeout_s)

            self._in_background(moved())
            sess.watching_elsewhere.clear()
            if viewers:  # the publisher's new process counts the viewers here too
                self._watch_changed(sess)
        elif op == "watch" and isinstance(message.get("n"), int):
            sess.watching_elsewhere[str(message.get("from"))] = (
                max(0, message["n"]),
                time.monotonic(),
            )
            self._watch_changed(sess)
        elif op == "mark" and isinstance(message.get("mark"), dict):
            publisher = sess.publisher
            out = json.dumps(message["mark"])
            self._in_background(publisher.send(out, self.limits.send_timeout_s))

    async def on_reconnected(self) -> None:
        """Redis is back (perhaps empty): write back at once what this process holds."""
        await self._beat(rewrite=True)

    # -- HTTP ----------------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.StreamResponse:
        if await self._viewer_session(request) is None:
            return _not_found()
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

    # -- publishers ----------------------------------------------------------------------------

    async def _publish(self, request: web.Request) -> web.StreamResponse:
        sid = request.match_info["sid"]
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        sess = await self._find(sid)
        owner: str | None = None
        if self.admission is not None:
            student = sess.student if sess is not None else request.headers.get(STUDENT_HEADER, "")
            owner = await self.admission.publisher(request, student) if student else None
            if owner is None or (sess is not None and sess.owner != owner):
                return web.Response(
                    status=403,
                    text="forbidden: this computer may not publish this session (is the desk "
                    "enrolled, and the student on a caseload at its school?)\n",
                )
            sess = self.sessions.get(sid)  # the admission awaited: look again
        if sess is None:
            registered = await self._register(sid, token, request, owner)
            if isinstance(registered, web.Response):
                return registered
            sess = registered
        if sess.expired() or not matches(token, sess.pub_digest):
            return _forbidden()
        old, sess.publisher = sess.publisher, None
        if old is not None:
            self._in_background(
                old.close(WSCloseCode.GOING_AWAY, "replaced", self.limits.close_timeout_s)
            )
        ws = web.WebSocketResponse(max_msg_size=self.limits.max_msg_bytes, heartbeat=10.0)
        await ws.prepare(request)
        peer = _Peer(ws, request)
        sess.publisher = peer
        sess.remote_up = False
        sess.told_watching = 0  # a new publisher counts none until told otherwise
        sess.publisher_since = time.monotonic()
        if self.bus is not None:
            await self.bus.present(sid)
            await self.bus.subscribe(sid, frames=False)
            await self.bus.unsubscribe(sid)  # its frames are here: none from Redis
            self.bus.control(sid, {"op": "taken"})
        self._broadcast(sess, json.dumps({"k": PUB, "up": True}))
        self._watch_changed(sess)
        logger.info("session %s: publisher connected", sid)
        address = request.remote or "?"
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    await self._refuse(sess, peer, "a frame that is not text")
                    break
                if not sess.rate.take():
                    sess.dropped_in += 1
                    continue
                if not self._address_rate.take(address):
                    sess.dropped_in += 1
                    self.dropped_in += 1
                    continue
                try:
                    frame = check_publisher(msg.data, sess.devices, self.limits.max_msg_bytes)
                except BadFrameError as exc:
                    await self._refuse(sess, peer, str(exc))
                    break
                self._from_publisher(sess, frame, msg.data)
        finally:
            if sess.publisher is peer:
                sess.publisher = None
                self._broadcast(sess, json.dumps({"k": PUB, "up": False}))
                logger.info("session %s: publisher disconnected", sid)
                if self.bus is not None:
                    self._in_background(self.bus.absent(sid))
                    if sess.viewers:  # it may come back through another process
                        self._in_background(self.bus.subscribe(sid))
        return ws

    async def _refuse(self, sess: _Session, peer: _Peer, why: str) -> None:
        logger.warning("session %s: publisher sent %s: closing its connection", sess.sid, why)
        await peer.close(WSCloseCode.POLICY_VIOLATION, "bad frame", self.limits.close_timeout_s)

    async def _register(
        self, sid: str, token: str | None, request: web.Request, owner: str | None
    ) -> _Session | web.Response:
        """A new session from its publisher's first connection, or the refusal to send (with
        a bus, a session another process registered meanwhile is that one)."""
        h = request.headers
        view_digest = h.get(VIEWER_DIGEST_HEADER, "")
        student = h.get(STUDENT_HEADER, "")
        try:
            expires = float(h.get(EXPIRES_HEADER, "0"))
        except ValueError:
            return _forbidden()
        if not (
            valid_session_id(sid)
            and token is not None
            and len(view_digest) == 64
            and valid_student_id(student)
            and expires > time.time()
        ):
            return _forbidden()
        retry = {"Retry-After": str(self.limits.retry_after_s)}
        if len(self.sessions) >= self.limits.max_sessions:
            logger.warning("relay full (%d sessions): session refused", len(self.sessions))
            return web.Response(
                status=503, text="the relay is full: try again later\n", headers=retry
            )
        address = request.remote or "?"
        if not await self._registrations.take(address):
            logger.warning("too many new sessions from one address: session refused")
            return web.Response(
                status=429, text="too many new sessions: try again later\n", headers=retry
            )
        assert token is not None
        sess = _Session(
            sid,
            digest(token),
            view_digest.lower(),
            student,
            min(expires, time.time() + self.limits.max_ttl_s),
            address,
            self.limits,
            owner=owner,
        )
        if self.sessions.get(sid) is not None:  # registered while the bucket was asked
            return self.sessions[sid]
        self.sessions[sid] = sess
        if self.bus is not None and not await self.bus.claim(
            sess.record(), sess.ttl_s(self.limits.idle_s)
        ):
            self._forget(sess, ended=False)  # another process registered it first
            found = await self._find(sid)
            return found if found is not None else _forbidden()
        return sess

    def _from_publisher(self, sess: _Session, frame: PublisherFrame, data: str) -> None:
        if frame.kind == HELLO:
            sess.devices = frozenset(frame.devices)
            for key in [k for k in sess.latest if k[1] and k[1] not in sess.devices]:
                self._uncache(sess, key)
        elif frame.kind == DATA:
            sess.published = True
        if frame.kind in CACHED_KINDS:
            self._cache(sess, (frame.kind, frame.dev), data)
        if frame.tiles is not None:  # a device's tiles riding in its data frame
            self._cache(sess, (METRICS, frame.dev), frame.tiles)
        self._fan_out(sess, data)

    def _fan_out(self, sess: _Session, data: str) -> None:
        """A publisher's frame to the viewers here and on the processes watching it: straight
        to each of those (batched per process), once they have had time to say they watch;
        on the session's channel before that (a publisher that just connected)."""
        bus = self.bus
        if bus is None:
            sess.broadcast(data)
            return
        now = time.monotonic()
        if now - sess.publisher_since < PRESENCE_S:
            self._broadcast(sess, data)
            return
        sess.broadcast(data)
        for process, (n, at) in sess.watching_elsewhere.items():
            if n > 0 and now - at <= PRESENCE_S:
                bus.send_to(process, sess.sid, data)

    def _uncache(self, sess: _Session, key: tuple[str, str]) -> None:
        old = sess.latest.pop(key, None)
        if old is not None:
            sess.cache_bytes -= len(old)
            self.cache_bytes -= len(old)
            if self.bus is not None:
                self.bus.keep(sess.sid, f"{key[0]}:{key[1]}", None)

    def _cache(self, sess: _Session, key: tuple[str, str], data: str) -> None:
        self._uncache(sess, key)
        lim = self.limits
        if (
            sess.cache_bytes + len(data) > lim.cache_bytes_per_session
            or self.cache_bytes + len(data) > lim.cache_bytes_total
        ):
            logger.warning("session %s: frame not kept for joining viewers (cache full)", sess.sid)
            return
        sess.latest[key] = data
        sess.cache_bytes += len(data)
        self.cache_bytes += len(data)
        if self.bus is None:
            return
        if key[0] == HELLO:  # a joining viewer on another process needs it at once
            self.bus.keep(sess.sid, f"{key[0]}:{key[1]}", data)
        else:  # tiles and status change often: Redis gets the latest at each heartbeat
            sess.unshared.add(key)

    # -- viewers -------------------------------------------------------------------------------

    async def _view(self, request: web.Request) -> web.StreamResponse:
        sess = await self._viewer_session(request)
        if sess is None:
            return _not_found()
        instance = request.query.get("i")
        if self.bus is not None and sess.publisher is None:
            # subscribed before the viewer hears it is connected, so it misses nothing of what
            # the publisher's process sends (while the publisher is here, its frames are)
            await self.bus.subscribe(sess.sid)
        # the other processes' viewers count toward the session's limit; asked before the
        # handshake ends, so nothing is awaited between it and this viewer's first frame
        others = await self.bus.viewers_elsewhere(sess.sid) if self.bus is not None else 0
        ws = web.WebSocketResponse(max_msg_size=self.limits.max_viewer_msg_bytes, heartbeat=10.0)
        await ws.prepare(request)
        viewer = _Viewer(ws, request, self.limits)
        timeout = self.limits.close_timeout_s
        page = valid_instance(instance)
        if page:
            assert instance is not None
            old = sess.viewers.pop(instance, None)
            if old is not None:  # the same page, reconnecting: it takes back its place
                self._in_background(old.close(WSCloseCode.GOING_AWAY, "replaced", timeout))
            own = old is not None or sess.reserved.pop(instance, None) is not None
        else:
            instance, own = secrets.token_hex(8), False
        if not own and len(sess.viewers) + len(sess.reserved) + others >= self.limits.max_viewers:
            await viewer.close(TRY_AGAIN_LATER, "too many viewers on this session", timeout)
            return ws
        kept: list[str | bytes] = list(sess.latest.values())
        if self.bus is not None and sess.publisher is None:  # published on another process
            held: list[bytes] = []
            sess.viewers[instance] = viewer
            viewer.held = held  # what arrives meanwhile goes after the kept frames
            sess.remote_up = bool((await self.bus.publishers([sess.sid])).get(sess.sid))
            kept = list(await self.bus.kept(sess.sid))
            viewer.held = None
            kept += held
        viewer.offer(json.dumps({"k": PUB, "up": sess.publisher is not None or sess.remote_up}))
        for cached in kept:
            viewer.offer(cached)
        sess.viewers[instance] = viewer
        self._viewers_changed(sess)
        pump = asyncio.create_task(viewer.pump())
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT or not await self._from_viewer(
                    sess, viewer, msg.data
                ):
                    await viewer.close(WSCloseCode.POLICY_VIOLATION, "viewers only mark", timeout)
                    break
        finally:
            if sess.viewers.get(instance) is viewer:
                del sess.viewers[instance]
                self._viewers_changed(sess)
                if page and self.sessions.get(sess.sid) is sess:  # its place, kept a while
                    sess.reserved[instance] = time.monotonic() + self.limits.viewer_grace_s
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
        return ws

    async def _from_viewer(self, sess: _Session, viewer: _Viewer, data: str) -> bool:
        """Handle a viewer's message; False if it is not one a viewer may send."""
        try:
            mark = check_viewer(data, self.limits.mark_chars)
        except BadFrameError:
            return False
        if mark is None or not mark.text:
            return True
        why = None
        elsewhere = self.bus is not None and sess.publisher is None and sess.remote_up
        number: int | None = sess.next_mark
        if not sess.marks.take():
            why = "too many events at once: wait a second and mark again"
        elif sess.publisher is None and not elsewhere:
            why = "the student's computer is reconnecting: mark again when it is back"
        elif self.bus is not None:  # one numbering for the session across processes
            number = await self.bus.next_mark(sess.sid, sess.expires_at - time.time())
            if number is None:
                why = "the live view is reconnecting: mark again in a few seconds"
        if why is not None or number is None:
            viewer.offer(json.dumps({"k": MARKERR, "cid": mark.cid, "why": why}))
            return True
        out = {"k": MARK, "id": number, "text": mark.text, "at": time.time() * 1000.0}
        sess.next_mark = number + 1
        viewer.offer(json.dumps({"k": MARKSENT, "cid": mark.cid, "id": out["id"]}))
        publisher = sess.publisher
        if publisher is not None:
            await publisher.send(json.dumps(out), self.limits.send_timeout_s)
        elif self.bus is not None:
            self.bus.control(sess.sid, {"op": "mark", "mark": out})
        return True
