"""Signing in through the browser: the session cookie, CSRF checks, and the login limits.

The cookie (``fm_session``) holds a 256-bit token (the database keeps its digest); it is
HttpOnly, SameSite=Strict, and Secure when the server runs TLS. Every state-changing request of
a signed-in browser (POST, PUT, PATCH, DELETE under ``/api/``) must carry the session's CSRF
token in ``X-CSRF-Token`` and, when the browser sends ``Origin``, come from the server's own
origin. Failed logins are limited per account and per source address, with one generic error.
Desks do not use cookies: they send their credential as ``Authorization: Bearer``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from finemotor.errors import NotFoundError, RefusedError
from finemotor.relay.bus import RedisBus, SharedBuckets
from finemotor.server.passwords import same
from finemotor.server.store import Store, User, WebSession

COOKIE = "fm_session"
_WEB_SESSION = web.RequestKey("fm_web", object)
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NO_COOKIE_PATHS = ("/api/login", "/api/enrol", "/api/desk/")
"""State-changing paths that do not need a signed-in browser (login, and the desks' API)."""

LOGIN_FAILURES_PER_ACCOUNT = 5
LOGIN_FAILURES_PER_ADDRESS = 20
LOGIN_WINDOW_S = 15 * 60.0
"""Failed logins allowed per account and per address within 15 minutes (then wait)."""

WRONG_LOGIN = "the e-mail or password is not right"


class LoginLimiter:
    """Failed logins per account and per address (token buckets refilling over 15 min),
    shared by every server process through the bus when there is one."""

    def __init__(
        self,
        per_account: int = LOGIN_FAILURES_PER_ACCOUNT,
        per_address: int = LOGIN_FAILURES_PER_ADDRESS,
        window_s: float = LOGIN_WINDOW_S,
        bus: RedisBus | None = None,
    ) -> None:
        self.accounts = SharedBuckets("login-account", per_account / window_s, per_account, bus)
        self.addresses = SharedBuckets("login-address", per_address / window_s, per_address, bus)

    async def check(self, email: str, address: str) -> None:
        """Raise RefusedError(429) if either has used up its failed attempts."""
        wait = max(await self.accounts.wait_s(email), await self.addresses.wait_s(address))
        if wait > 0:
            minutes = max(1, round(wait / 60.0))
            raise RefusedError(
                429,
                "too_many_logins",
                f"too many failed sign-ins: wait {minutes} minute(s) and try again, or ask "
                "your admin to reset the password",
            )

    async def failed(self, email: str, address: str) -> None:
        """Count one failed attempt against both."""
        await self.accounts.take(email)
        await self.addresses.take(address)


def set_cookie(response: web.StreamResponse, token: str, max_age_s: float, secure: bool) -> None:
    """Put the session cookie on ``response``."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(max_age_s),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=secure,
    )


def clear_cookie(response: web.StreamResponse, secure: bool) -> None:
    """Remove the session cookie."""
    response.del_cookie(COOKIE, path="/", secure=secure, httponly=True, samesite="Strict")


async def web_session(request: web.Request, store: Store) -> WebSession | None:
    """The request's signed-in session (looked up once per request), or None."""
    if _WEB_SESSION not in request:
        token = request.cookies.get(COOKIE, "")
        request[_WEB_SESSION] = await store.web_session(token) if token else None
    found = request[_WEB_SESSION]
    return found if isinstance(found, WebSession) else None


async def signed_in(
    request: web.Request, store: Store, role: str | None = None, first_ok: bool = False
) -> User:
    """The signed-in user, or 401 (not signed in or expired) / 404 (another role's route:
    outside the caller's rights, the answer is the same as for nothing there) / 403 (she
    signed in with a one-time password and must choose her own first, unless ``first_ok``)."""
    ws = await web_session(request, store)
    if ws is None:
        raise RefusedError(
            401, "signed_out", "you are not signed in, or your sign-in has expired: sign in again"
        )
    if ws.user.must_change and not first_ok:
        raise RefusedError(
            403,
            "change_password",
            "choose your own password first (Change password): the one you were given works once",
        )
    if role is not None and ws.user.role != role:  # outside one's rights: as if absent
        raise NotFoundError("page", request.path[:80], where="for your account")
    return ws.user


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return origin == f"{request.scheme}://{request.host}"


def csrf_middleware(store: Store) -> Any:
    """Refuse state-changing API requests without the session's CSRF token or from another
    origin (403, with a sentence)."""

    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if request.method in UNSAFE_METHODS and path.startswith("/api/"):
            if not _same_origin(request):
                raise RefusedError(
                    403, "cross_origin", "requests must come from this server's pages"
                )
            if not path.startswith(NO_COOKIE_PATHS):
                ws = await web_session(request, store)
                if ws is not None and not same(request.headers.get(CSRF_HEADER, ""), ws.csrf):
                    raise RefusedError(
                        403,
                        "csrf",
                        "this request lacks its CSRF token: reload the page and try again",
                    )
        response: web.StreamResponse = await handler(request)
        return response

    return check
