"""What the relay accepts, and the token buckets that enforce its rates.

Rates are kept per session and per source address, not per connection, so reconnecting does
not refill a bucket.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from finemotor.marks import MARK_CHARS


@dataclass(frozen=True)
class RelayLimits:
    """What the relay accepts.

    Attributes:
        max_msg_bytes: largest WebSocket message from a publisher.
        max_viewer_msg_bytes: largest message from a viewer.
        publisher_rate: publisher messages per second per session (token bucket; excess
            dropped and counted; a reconnection does not refill it).
        publisher_burst: the session bucket's depth.
        address_rate: publisher messages per second from one source address, all its
            sessions together.
        address_burst: the address bucket's depth.
        viewer_queue: frames waiting per viewer; beyond, the oldest are dropped.
        viewer_queue_bytes: bytes waiting per viewer; beyond, the oldest are dropped.
        marks_per_s: events the viewers of one session may mark per second (bucket depth
            ``mark_burst``).
        mark_burst: see ``marks_per_s``.
        mark_chars: longest event text.
        max_sessions: sessions at once.
        max_viewers: viewers per session.
        viewer_grace_s: a page that lost its connection keeps its place this long, so it can
            reconnect even when others have filled the session.
        max_ttl_s: longest session lifetime a publisher may ask for.
        idle_s: a session with neither publisher nor viewers is forgotten after this long.
        unpublished_s: a session whose publisher left before sending any data is forgotten
            after this long (so registrations alone cannot fill the relay).
        registrations_per_min: new sessions one source address may register per minute
            (bucket depth ``registration_burst``).
        registration_burst: see ``registrations_per_min``.
        cache_bytes_per_session: bytes of latest frames kept per session for joining viewers.
        cache_bytes_total: bytes of latest frames kept by the whole relay.
        send_timeout_s: longest wait to hand one frame to a socket; a viewer slower than that
            is dropped.
        close_timeout_s: longest wait for a socket to close; then it is cut.
        retry_after_s: what a full relay tells a publisher to wait (``Retry-After``).
    """

    max_msg_bytes: int = 64 * 1024
    max_viewer_msg_bytes: int = 1024
    publisher_rate: float = 400.0
    publisher_burst: float = 800.0
    address_rate: float = 8000.0
    address_burst: float = 16000.0
    viewer_queue: int = 512
    viewer_queue_bytes: int = 2 * 1024 * 1024
    marks_per_s: float = 1.0
    mark_burst: float = 5.0
    mark_chars: int = MARK_CHARS
    max_sessions: int = 200
    max_viewers: int = 50
    viewer_grace_s: float = 30.0
    max_ttl_s: float = 12 * 3600.0
    idle_s: float = 600.0
    unpublished_s: float = 30.0
    registrations_per_min: float = 60.0
    registration_burst: float = 60.0
    cache_bytes_per_session: int = 128 * 1024
    cache_bytes_total: int = 16 * 1024 * 1024
    send_timeout_s: float = 5.0
    close_timeout_s: float = 2.0
    retry_after_s: int = 30


class Bucket:
    """A token bucket: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.level, self.last = rate, burst, burst, time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.burst, self.level + (now - self.last) * self.rate)
        self.last = now

    def take(self) -> bool:
        """Take one token; False (and nothing taken) if the bucket is empty."""
        self._refill()
        if self.level < 1.0:
            return False
        self.level -= 1.0
        return True

    def full(self) -> bool:
        """True if the bucket has refilled completely (it can be forgotten)."""
        self._refill()
        return self.level >= self.burst

    def empty(self) -> bool:
        """True if a :meth:`take` now would fail (nothing is taken)."""
        self._refill()
        return self.level < 1.0

    def wait_s(self) -> float:
        """Seconds until one token is back (0 if there is one now)."""
        self._refill()
        return 0.0 if self.level >= 1.0 else (1.0 - self.level) / self.rate


class KeyedBuckets:
    """One bucket per key (a source address), forgetting those that have refilled.

    Args:
        rate: tokens per second of each bucket.
        burst: each bucket's depth.
        max_keys: keys kept at once; past it, full buckets are forgotten first.
    """

    def __init__(self, rate: float, burst: float, max_keys: int = 10_000) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._buckets: dict[str, Bucket] = {}

    def take(self, key: str) -> bool:
        """Take one token from ``key``'s bucket."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self.prune()
            while len(self._buckets) >= self.max_keys:  # still full: the oldest key goes
                del self._buckets[next(iter(self._buckets))]
            bucket = self._buckets[key] = Bucket(self.rate, self.burst)
        return bucket.take()

    def empty(self, key: str) -> bool:
        """True if ``key``'s bucket has no token now (nothing is taken)."""
        bucket = self._buckets.get(key)
        return bucket is not None and bucket.empty()

    def wait_s(self, key: str) -> float:
        """Seconds until ``key``'s bucket has a token again."""
        bucket = self._buckets.get(key)
        return 0.0 if bucket is None else bucket.wait_s()

    def prune(self) -> None:
        """Forget buckets that have refilled (they hold nothing worth keeping)."""
        for key in [k for k, b in self._buckets.items() if b.full()]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
