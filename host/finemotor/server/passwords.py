"""Passwords and secrets: argon2id hashes, random tokens, digests, short enrolment codes.

Passwords are hashed with argon2id (argon2-cffi, RFC 9106's second recommended parameters:
64 MiB, 3 passes), verified off the event loop. Tokens (web sessions, desk credentials) are
256 random bits; the database keeps only their SHA-256 digests. Enrolment codes are short
enough to type (12 characters of an unambiguous alphabet, about 60 bits) because they are
single-use, expire in 24 hours and are rate limited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from finemotor.errors import RefusedError

PASSWORD_MIN = 10
PASSWORD_MAX = 256
"""Password length, in characters: long enough to resist guessing, short enough to hash."""

TOKEN_BYTES = 32
"""256 random bits per web-session token and desk credential."""

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
"""Enrolment-code letters: no 0/O, 1/I/L, which people misread."""
CODE_LENGTH = 12

_hasher = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)
_DUMMY = _hasher.hash("a password no account has, to spend the same time on unknown emails")


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be used, or None."""
    if len(password) < PASSWORD_MIN:
        return f"a password needs at least {PASSWORD_MIN} characters"
    if len(password) > PASSWORD_MAX:
        return f"a password may have at most {PASSWORD_MAX} characters"
    return None


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (checked with :func:`password_problem`).

    Raises:
        RefusedError: too short or too long.
    """
    problem = password_problem(password)
    if problem is not None:
        raise RefusedError(400, "bad_password", problem)
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True if ``password`` matches the hash ``stored``; with ``stored`` None (no such
    account) the same work is done and False returned, so timing does not tell."""
    try:
        return _hasher.verify(stored or _DUMMY, password[:PASSWORD_MAX]) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A fresh URL-safe token of 256 random bits."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def digest(secret: str) -> str:
    """The hex SHA-256 of a token or code: what the database keeps."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time string comparison."""
    return hmac.compare_digest(a.encode(), b.encode())


def new_code() -> str:
    """A fresh enrolment code, shown as ``XXXX-XXXX-XXXX``."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normal_code(text: str) -> str:
    """An enrolment code as typed (any case, spaces or dashes) in its canonical form."""
    raw = "".join(c for c in text.upper() if c.isalnum())
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def one_time_password() -> str:
    """A password an admin hands on once (16 characters, about 95 random bits, no look-alike
    characters); its holder chooses her own at her first sign-in."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))
