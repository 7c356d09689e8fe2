"""Live sessions shared between server processes through Redis.

With a bus, any process behind a load balancer can take any publisher or viewer: a session's
record (its token digests, student, owner and expiry) is a Redis key every process can read;
the process holding a session's publisher says so in a presence key that expires unless it is
renewed; frames go out on the session's channel to the processes that hold its viewers, and
viewers' marks come back on the session's control channel to the process that holds the
publisher. Once the processes watching a session have said so (each renews its count of
viewers on the control channel at every heartbeat), the publisher's process sends the
session's frames straight to those processes instead: to each process's own channel, the
frames of all its sessions waiting at that moment in one message (:meth:`RedisBus.send_to`).
The frames kept for viewers who join later (hello, metrics, status) are kept in Redis too.
Rate limits that must hold across processes (registrations, sign-ins, enrolments) are token
buckets in Redis (:class:`SharedBuckets`).

Redis is a shared memory of the present, not a store: nothing in it outlives a session, and a
Redis that restarts empty is refilled by the processes from what they hold. While Redis does
not answer, each process keeps serving its own publishers and viewers and the bus reconnects
with a back-off; viewers on another process than their publisher miss the frames of that time.

Keys (``fm:`` prefix): ``sess:{sid}`` (the record, JSON, expiring with the session or when
idle), ``pub:{sid}`` (the process holding the publisher, a few seconds' lease),
``latest:{sid}`` (hash of kept frames), ``viewers:{sid}`` (hash: each process's viewers of
the session and when it said so), ``mark:{sid}`` (the session's mark counter),
``live`` (set of session ids with records), ``rate:{name}:{key}`` (a bucket). Channels:
``f:{sid}`` (frames to viewers, each prefixed by the sending process's id), ``c:{sid}``
(control messages to the publisher's process, JSON) and ``process:{id}`` (frames sent to one
process: ``sid US frame`` parts separated by RS).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from finemotor.errors import FinemotorError
from finemotor.redact import redact
from finemotor.relay.limits import KeyedBuckets

logger = logging.getLogger(__name__)

PREFIX = "fm:"
DIRECT_BYTES = 256 * 1024
"""Largest message of frames to one process (more waiting: sent in several)."""
_SID_END, _FRAME_END = "\x1f", "\x1e"
"""Separators in a message of frames to a process (a frame is JSON text: never holds them)."""
PRESENCE_S = 6.0
"""How long a process's claim to hold a session's publisher lasts unless renewed."""
HEARTBEAT_S = 2.0
"""How often a process renews its claims and reads which sessions are live elsewhere."""
OUTBOX_FRAMES = 20_000
"""Frames waiting to go out to Redis; beyond, the oldest are dropped (and counted)."""
BATCH = 512
"""Frames sent to Redis in one pipelined round trip at most."""
MAX_CONNECTIONS = 16
"""Connections to Redis for commands per process (the subscription has its own)."""
_BACKOFF_S = (0.1, 0.25, 0.5, 1.0)
_TIMEOUT_S = 2.0

# The bucket in one round trip: refill by elapsed time, then take ``cost`` tokens if there
# are enough. Returns {taken (0/1), seconds until one token}. Time comes from Redis (TIME),
# so processes with drifting clocks share one bucket.
_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local level = tonumber(redis.call('HGET', KEYS[1], 'l') or burst)
local last = tonumber(redis.call('HGET', KEYS[1], 't') or now)
level = math.min(burst, level + (now - last) * rate)
local taken = 0
if cost > 0 and level >= cost then
  level = level - cost
  taken = 1
end
redis.call('HSET', KEYS[1], 'l', tostring(level), 't', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
local wait = 0
if level < 1 then wait = (1 - level) / rate end
return {taken, tostring(wait)}
"""


class BusError(FinemotorError):
    """Redis cannot be reached (at start); the message says what to do."""


@dataclass(frozen=True)
class SessionRecord:
    """What every process needs to admit a session's publisher and viewers.

    Attributes:
        sid: the session id.
        pub_digest: SHA-256 of the publisher token (hex).
        view_digest: SHA-256 of the viewer token (hex).
        student: the pseudonymous student id.
        expires_at: Unix time the session ends.
        owner: who published it (``desk:ID`` on the server; None on a bare relay).
    """

    sid: str
    pub_digest: str
    view_digest: str
    student: str
    expires_at: float
    owner: str | None

    def dumps(self) -> str:
        """The record as JSON."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, data: str | bytes) -> SessionRecord | None:
        """A record from JSON, or None if it is not one."""
        try:
            obj = json.loads(data)
            return cls(
                str(obj["sid"]),
                str(obj["pub_digest"]),
                str(obj["view_digest"]),
                str(obj["student"]),
                float(obj["expires_at"]),
                None if obj["owner"] is None else str(obj["owner"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


def _safe(url: str) -> str:
    """The Redis URL as a log line may show it (its origin: no password, no database)."""
    return redact(url)


class FrameSink(Protocol):
    """What the bus delivers to: the relay."""

    def on_frames(self, sid: str, data: bytes) -> None:
        """A frame from another process (UTF-8 JSON) for the viewers of session ``sid``
        here."""

    def on_control(self, sid: str, message: dict[str, Any]) -> None:
        """A control message for the publisher of session ``sid`` held here."""

    async def on_reconnected(self) -> None:
        """Redis answered again (after a restart it may have forgotten everything)."""


class RedisBus:
    """The connection of one process to the shared Redis.

    Args:
        url: ``redis://[:password@]host:port/db`` or ``unix:///path/to/socket``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.process = secrets.token_hex(8)
        """This process's id on the bus (frames it sent come back tagged with it)."""
        self.dropped = 0
        """Frames other processes never got (outbox full, or Redis down); said when Redis
        answers again."""
        self._dropped_said = 0
        self.up = False
        self._client: Any = None
        self._frames_client: Any = None
        """Subscriptions, answering bytes: frames go on to viewers without decoding."""
        self._pubsub: Any = None
        self._sink: FrameSink | None = None
        self._channels: set[str] = set()
        self._outbox: deque[tuple[str, ...]] = deque(maxlen=OUTBOX_FRAMES)
        self._direct: dict[str, list[str]] = {}
        """Frames waiting to be sent to each other process's inbox, in one message each."""
        self._direct_n = 0
        self._direct_bytes: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._sub_lock = asyncio.Lock()
        self._bucket: Any = None
        self._down_logged = False

    # -- life ------------------------------------------------------------------------------

    async def start(self, sink: FrameSink) -> None:
        """Connect and start delivering to ``sink``.

        Raises:
            BusError: Redis does not answer (say where, without its password).
        """
        from redis import asyncio as aioredis  # noqa: PLC0415 (only with --redis)

        self._sink = sink
        # commands wait their turn for one of a few connections (a burst of new sessions
        # must queue, not fail for want of a connection)
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url,
            max_connections=MAX_CONNECTIONS,
            timeout=_TIMEOUT_S,
            socket_timeout=_TIMEOUT_S,
            socket_connect_timeout=_TIMEOUT_S,
            decode_responses=True,
            health_check_interval=10,
        )
        self._client = aioredis.Redis(connection_pool=pool)
        try:
            await self._client.ping()
        except Exception as exc:
            await self._client.aclose()
            raise BusError(
                f"Redis at {_safe(self.url)} does not answer ({type(exc).__name__}): start it, "
                "or check --redis"
            ) from exc
        self._bucket = self._client.register_script(_BUCKET_LUA)
        self._frames_client = aioredis.Redis.from_url(
            self.url,
            socket_timeout=_TIMEOUT_S,
            socket_connect_timeout=_TIMEOUT_S,
            decode_responses=False,
            health_check_interval=10,
            socket_keepalive=True,  # a subscription waits on its socket without a timer
        )
        self.up = True
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="bus-send"),
            asyncio.create_task(self._receive_loop(), name="bus-receive"),
        ]
        logger.info(
            "sharing live sessions through Redis at %s (this process: %s)",
            _safe(self.url),
            self.process,
        )

    async def stop(self) -> None:
        """Stop delivering and close the connections."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        for client in (self._client, self._frames_client):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()

    def _down(self, exc: BaseException) -> None:
        if self.up or not self._down_logged:
            logger.warning(
                "Redis does not answer (%s): live sessions stay on their own process until it "
                "is back",
                type(exc).__name__,
            )
            self._down_logged = True
        self.up = False

    def _back(self) -> None:
        if not self.up:
            lost, self._dropped_said = self.dropped - self._dropped_said, self.dropped
            logger.info(
                "Redis answers again: live sessions are shared again (%d frame(s) for viewers "
                "on other processes were lost meanwhile)",
                lost,
            )
        self.up = True
        self._down_logged = False

    async def _call(self, what: Callable[[], Awaitable[Any]], default: Any = None) -> Any:
        """Run one Redis command; ``default`` if Redis does not answer (and say so once)."""
        try:
            result = await what()
        except Exception as exc:  # any failure of the connection: degrade, never crash
            self._down(exc)
            return default
        return result

    # -- frames ------------------------------------------------------------------------------

    def publish(self, sid: str, data: str) -> None:
        """Send a frame to the viewers of ``sid`` on other processes (never blocks)."""
        if len(self._outbox) == self._outbox.maxlen:
            self.dropped += 1
        self._outbox.append(("p", f"{PREFIX}f:{sid}", f"{self.process} {data}"))
        self._wake.set()

    def send_to(self, process: str, sid: str, data: str) -> None:
        """Send a frame of session ``sid`` to the viewers on ``process`` (never blocks). The
        frames waiting for the same process when the bus next writes go in one message to
        its inbox: a busy process sends and receives a message per tick, not per frame."""
        if self._direct_n >= OUTBOX_FRAMES:
            self.dropped += 1
            return
        frames = self._direct.setdefault(process, [])
        frames.append(f"{sid}{_SID_END}{data}")
        self._direct_n += 1
        size = self._direct_bytes.get(process, 0) + len(data) + len(sid) + 2
        self._direct_bytes[process] = size
        if size >= DIRECT_BYTES:
            self._flush_direct(process)
        self._wake.set()

    def _flush_direct(self, process: str | None = None) -> None:
        """Move the frames waiting for ``process`` (or every process) to the outbox."""
        for dest in [process] if process is not None else list(self._direct):
            frames = self._direct.pop(dest, None)
            self._direct_bytes.pop(dest, None)
            if not frames:
                continue
            self._direct_n -= len(frames)
            if len(self._outbox) == self._outbox.maxlen:
                self.dropped += 1
            self._outbox.append(
                ("d", f"{PREFIX}process:{dest}", _FRAME_END.join(frames), str(len(frames)))
            )

    def count_viewers(self, sid: str, n: int) -> None:
        """Say that this process holds ``n`` viewers of ``sid`` (for the session's viewer
        limit, which holds across processes); renewed at each heartbeat."""
        value = f"{n} {time.time():.3f}"
        self._outbox.append(("h", f"{PREFIX}viewers:{sid}", self.process, value))
        self._wake.set()

    async def viewers_elsewhere(self, sid: str) -> int:
        """Viewers of ``sid`` that the other processes said they hold, within the presence
        lease (0 if Redis does not answer: each process then keeps its own limit)."""
        said = await self._call(lambda: self._client.hgetall(f"{PREFIX}viewers:{sid}"), {})
        now, total = time.time(), 0
        for process, value in (said or {}).items():
            n, _, at = str(value).partition(" ")
            with contextlib.suppress(ValueError):
                if process != self.process and now - float(at) <= PRESENCE_S:
                    total += max(0, int(n))
        return total

    def control(self, sid: str, message: dict[str, Any]) -> None:
        """Send a control message to the process holding ``sid``'s publisher."""
        data = json.dumps({**message, "from": self.process}, separators=(",", ":"))
        self._outbox.append(("p", f"{PREFIX}c:{sid}", data))
        self._wake.set()

    def keep(self, sid: str, key: str, data: str | None) -> None:
        """Keep ``data`` as session ``sid``'s latest frame of ``key`` (kind and device) for
        viewers joining on other processes; None forgets it. In order with the frames."""
        if data is None:
            self._outbox.append(("x", f"{PREFIX}latest:{sid}", key))
        else:
            self._outbox.append(("h", f"{PREFIX}latest:{sid}", key, data))
        self._wake.set()

    async def _send_loop(self) -> None:
        attempt = 0
        while True:
            if self._direct:
                self._flush_direct()
            if not self._outbox:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._wake.wait()
                continue
            batch = [self._outbox.popleft() for _ in range(min(BATCH, len(self._outbox)))]
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for op in batch:
                        if op[0] in ("p", "d"):
                            pipe.publish(op[1], op[2])
                        elif op[0] == "h":
                            pipe.hset(op[1], op[2], op[3])
                            pipe.expire(op[1], int(PRESENCE_S * 10))
                        else:
                            pipe.hdel(op[1], op[2])
                    await pipe.execute()
            except Exception as exc:  # Redis down: these frames are lost to other processes
                self.dropped += sum(int(op[3]) if op[0] == "d" else 1 for op in batch)
                self._down(exc)
                await asyncio.sleep(_BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)])
                attempt += 1
                continue
            attempt = 0
            if not self.up:
                self._back()

    async def subscribe(self, sid: str, frames: bool = True) -> None:
        """Receive ``sid``'s frames (viewers here) or its control messages (its publisher
        here)."""
        channel = f"{PREFIX}{'f' if frames else 'c'}:{sid}"
        if channel in self._channels:
            return
        self._channels.add(channel)
        async with self._sub_lock:
            if self._pubsub is not None:
                await self._call(lambda: self._pubsub.subscribe(channel))

    async def unsubscribe(self, sid: str, frames: bool = True) -> None:
        """Stop receiving what :meth:`subscribe` asked for."""
        channel = f"{PREFIX}{'f' if frames else 'c'}:{sid}"
        if channel not in self._channels:
            return
        self._channels.discard(channel)
        async with self._sub_lock:
            if self._pubsub is not None:
                await self._call(lambda: self._pubsub.unsubscribe(channel))

    async def _receive_loop(self) -> None:
        attempt = 0
        first = True
        while True:
            try:
                async with self._sub_lock:
                    self._pubsub = self._frames_client.pubsub(ignore_subscribe_messages=True)
                    # a placeholder keeps the connection subscribed (and readable) while this
                    # process holds no session
                    await self._pubsub.subscribe(f"{PREFIX}process:{self.process}")
                    if self._channels:
                        await self._pubsub.subscribe(*self._channels)
                attempt = 0
                if not first:
                    self._back()
                    if self._sink is not None:
                        await self._sink.on_reconnected()
                first = False
                await self._read(self._pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection broke: subscribe again when back
                self._down(exc)
                first = False
            pubsub, self._pubsub = self._pubsub, None
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(_BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)])
            attempt += 1

    async def _read(self, pubsub: Any) -> None:
        sink = self._sink
        assert sink is not None
        skip, control = len(PREFIX) + 2, f"{PREFIX}c:".encode()
        own = f"{self.process} ".encode()
        inbox = f"{PREFIX}process:{self.process}".encode()
        sid_end, frame_end = _SID_END.encode(), _FRAME_END.encode()
        async for msg in pubsub.listen():  # blocks on the socket: no timer per message
            if msg is None or msg.get("type") not in ("message", b"message"):
                continue
            channel: bytes = msg["channel"]
            data: bytes = msg["data"]
            if channel == inbox:  # frames sent to this process, several sessions' at once
                for part in data.split(frame_end):
                    sid_b, _, frame = part.partition(sid_end)
                    sink.on_frames(sid_b.decode("ascii", "replace"), frame)
                continue
            sid = channel[skip:].decode("ascii", "replace")
            if channel.startswith(control):
                try:
                    obj = json.loads(data)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    sink.on_control(sid, obj)
                continue
            if data.startswith(own):
                continue  # this process's own frame: its viewers had it already
            sink.on_frames(sid, data[len(own) :])

    # -- records, presence, kept frames -------------------------------------------------------

    async def claim(self, record: SessionRecord, ttl_s: float) -> bool:
        """Store a new session's record unless one exists; True if this one was stored."""
        key = f"{PREFIX}sess:{record.sid}"

        async def go() -> bool:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.set(key, record.dumps(), nx=True, px=max(1, int(ttl_s * 1000)))
                pipe.sadd(f"{PREFIX}live", record.sid)
                done = await pipe.execute()
            return bool(done[0])

        return bool(await self._call(go, default=True))

    async def record(self, sid: str) -> SessionRecord | None:
        """The record of session ``sid``, or None (unknown, or Redis does not answer)."""
        data = await self._call(lambda: self._client.get(f"{PREFIX}sess:{sid}"))
        return SessionRecord.loads(data) if data else None

    async def forget(self, sid: str) -> None:
        """Remove session ``sid``'s record and what is kept for it (it has ended)."""
        keys = [f"{PREFIX}{k}:{sid}" for k in ("sess", "pub", "latest", "mark", "viewers")]

        async def go() -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.delete(*keys)
                pipe.srem(f"{PREFIX}live", sid)
                await pipe.execute()

        await self._call(go)

    async def renew(
        self,
        records: list[tuple[SessionRecord, float]],
        publishing: list[str],
        latest: dict[str, dict[str, str]] | None = None,
    ) -> None:
        """One heartbeat: keep each ``(record, ttl_s)`` alive (writing it again, so a Redis
        that restarted empty learns it back), renew this process's presence for the sessions
        in ``publishing``, and (after a reconnection) write back the frames kept for joining
        viewers."""
        if not records and not publishing:
            return

        async def go() -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                for rec, ttl in records:
                    pipe.set(f"{PREFIX}sess:{rec.sid}", rec.dumps(), px=max(1, int(ttl * 1000)))
                    pipe.sadd(f"{PREFIX}live", rec.sid)
                for sid in publishing:
                    pipe.set(f"{PREFIX}pub:{sid}", self.process, px=int(PRESENCE_S * 1000))
                for sid, kept in (latest or {}).items():
                    if kept:
                        pipe.hset(f"{PREFIX}latest:{sid}", mapping=kept)
                        pipe.expire(f"{PREFIX}latest:{sid}", int(PRESENCE_S * 10))
                await pipe.execute()

        await self._call(go)

    async def present(self, sid: str) -> None:
        """Claim ``sid``'s publisher for this process now (a publisher just connected here)."""
        await self._call(
            lambda: self._client.set(f"{PREFIX}pub:{sid}", self.process, px=int(PRESENCE_S * 1000))
        )

    async def absent(self, sid: str) -> None:
        """Give up the claim on ``sid``'s publisher, if this process still holds it."""

        async def go() -> None:
            key = f"{PREFIX}pub:{sid}"
            if await self._client.get(key) == self.process:
                await self._client.delete(key)

        await self._call(go)

    async def publishers(self, sids: list[str]) -> dict[str, str | None]:
        """Which process holds each session's publisher (None: none does)."""
        if not sids:
            return {}
        got = await self._call(
            lambda: self._client.mget([f"{PREFIX}pub:{s}" for s in sids]), default=None
        )
        if got is None:
            return {}
        return dict(zip(sids, got, strict=True))

    async def kept(self, sid: str) -> list[str]:
        """Session ``sid``'s kept frames (for a viewer joining on this process)."""
        got = await self._call(lambda: self._client.hgetall(f"{PREFIX}latest:{sid}"), default={})
        return list(got.values()) if isinstance(got, dict) else []

    async def next_mark(self, sid: str, ttl_s: float) -> int | None:
        """The session's next mark number (unique across processes), or None if Redis does
        not answer."""

        async def go() -> int:
            key = f"{PREFIX}mark:{sid}"
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, max(1, int(ttl_s)))
                got = await pipe.execute()
            return int(got[0])

        result = await self._call(go)
        return None if result is None else int(result)

    async def live(self) -> list[SessionRecord]:
        """Every session with a record (any process); stale entries of the set are removed."""

        async def go() -> list[SessionRecord]:
            sids = sorted(await self._client.smembers(f"{PREFIX}live"))
            if not sids:
                return []
            got = await self._client.mget([f"{PREFIX}sess:{s}" for s in sids])
            gone = [s for s, d in zip(sids, got, strict=True) if d is None]
            if gone:
                await self._client.srem(f"{PREFIX}live", *gone)
            return [r for d in got if d for r in [SessionRecord.loads(d)] if r is not None]

        return list(await self._call(go, default=[]))

    # -- shared rate limits -------------------------------------------------------------------

    async def bucket(
        self, name: str, key: str, rate: float, burst: float, cost: int
    ) -> tuple[bool, float] | None:
        """Take ``cost`` tokens (0: only look) from the shared bucket ``name``/``key``:
        ``(taken, seconds until a token)``, or None if Redis does not answer."""

        async def go() -> tuple[bool, float]:
            taken, wait = await self._bucket(
                keys=[f"{PREFIX}rate:{name}:{key}"], args=[rate, burst, cost]
            )
            return bool(int(taken)), float(wait)

        got = await self._call(go)
        return None if got is None else (bool(got[0]), float(got[1]))


class SharedBuckets:
    """One token bucket per key, shared by every process through the bus when there is one
    (in this process's memory otherwise, or while Redis does not answer).

    Args:
        name: what the buckets count (part of their Redis key).
        rate: tokens per second of each bucket.
        burst: each bucket's depth.
        bus: the bus, or None for one process alone.
    """

    def __init__(self, name: str, rate: float, burst: float, bus: RedisBus | None = None) -> None:
        self.name, self.rate, self.burst, self.bus = name, rate, burst, bus
        self._local = KeyedBuckets(rate, burst)

    async def take(self, key: str) -> bool:
        """Take one token from ``key``'s bucket; False if it is empty."""
        if self.bus is not None:
            got = await self.bus.bucket(self.name, key, self.rate, self.burst, 1)
            if got is not None:
                return got[0]
        return self._local.take(key)

    async def wait_s(self, key: str) -> float:
        """Seconds until ``key``'s bucket has a token (0: one is there now)."""
        if self.bus is not None:
            got = await self.bus.bucket(self.name, key, self.rate, self.burst, 0)
            if got is not None:
                return got[1]
        return self._local.wait_s(key)
