"""Session ids and tokens: random, at least 128 bits, compared in constant time.

The relay keeps only SHA-256 digests of the tokens, so a relay's memory never holds a token
that would let someone publish or view.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from finemotor.errors import FinemotorError
from finemotor.student import student_id_problem

TOKEN_BYTES = 24
"""192 bits of randomness per token (the view link needs at least 128)."""

VIEWER_DIGEST_HEADER = "X-Finemotor-Viewer-Digest"
STUDENT_HEADER = "X-Finemotor-Student"
EXPIRES_HEADER = "X-Finemotor-Expires"
"""The publisher's registration headers (beside ``Authorization: Bearer PUBLISHER``)."""
DESK_HEADER = "X-Finemotor-Desk"
"""An enrolled desk's credential, which the server requires of a publisher (sent only to the
desk's own server)."""

_SESSION_RE = re.compile(r"^[0-9a-f]{16}$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{22,64}$")


def new_token() -> str:
    """Return a fresh URL-safe token (192 bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def digest(token: str) -> str:
    """Return the hex SHA-256 of a token: what the relay stores and compares."""
    return hashlib.sha256(token.encode()).hexdigest()


def matches(token: str | None, stored_digest: str) -> bool:
    """True if ``token`` hashes to ``stored_digest`` (constant-time comparison)."""
    ok_shape = bool(token) and bool(_TOKEN_RE.match(token or ""))
    same = hmac.compare_digest(digest(token or ""), stored_digest)
    return ok_shape and same


def valid_session_id(sid: str) -> bool:
    """True if ``sid`` has the shape of a session id (16 hex digits)."""
    return bool(_SESSION_RE.match(sid))


@dataclass(frozen=True)
class PublishedSession:
    """A live session as its publisher knows it.

    Attributes:
        session_id: 16 hex digits, random; the only session detail in a URL.
        publisher_token: lets the student's host publish (never leaves that host and relay).
        viewer_token: goes into the therapist's link; lets the holder view and mark events.
        student: the pseudonymous student id (never a name).
        expires_at: unix time after which the relay refuses both tokens.
    """

    session_id: str
    publisher_token: str
    viewer_token: str
    student: str
    expires_at: float

    @classmethod
    def new(cls, student: str, ttl_s: float = 4 * 3600.0) -> PublishedSession:
        """Start a session for pseudonymous ``student`` lasting ``ttl_s`` seconds."""
        problem = student_id_problem(student)
        if problem is not None:
            raise FinemotorError(f"{problem} (for example 'S-0142')")
        return cls(secrets.token_hex(8), new_token(), new_token(), student, time.time() + ttl_s)

    def publisher_headers(self) -> dict[str, str]:
        """The headers of the publisher's WebSocket handshake: its token, and what the relay
        needs to register the session (the viewer token's digest, the student id, expiry)."""
        return {
            "Authorization": f"Bearer {self.publisher_token}",
            VIEWER_DIGEST_HEADER: digest(self.viewer_token),
            STUDENT_HEADER: self.student,
            EXPIRES_HEADER: f"{self.expires_at:.0f}",
        }

    def view_path(self) -> str:
        """The therapist's link, without the relay's origin."""
        return f"/view/{self.session_id}?t={self.viewer_token}"
