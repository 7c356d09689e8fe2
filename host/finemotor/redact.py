"""Redaction of secrets from text bound for a log: tokens, query strings, URLs' paths.

A viewer token is in the therapist's link and a publisher token in the WebSocket handshake, so
anything that may quote a request (a parser's error, an exception's message, a traceback) goes
through :func:`redact` before it is written anywhere.
"""

from __future__ import annotations

import re

_URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s/'\"<>]+[^\s'\"<>]*", re.IGNORECASE)
_QUERY = re.compile(r"\?[^\s'\"<>]*")
_BEARER = re.compile(r"(?i)\b(bearer|authorization)\b[\s:=]*[^\s'\",]+")
_TOKENISH = re.compile(r"[A-Za-z0-9_\-]{22,}")
_PATH_ID = re.compile(r"(/(?:view|ws/view|ws/publish)/)[^\s/?'\"<>]+")


def _origin(match: re.Match[str]) -> str:
    url = match.group(0)
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]  # no user or password
    return f"{scheme}://{host}/…"


def redact(text: str) -> str:
    """``text`` with URLs (any scheme: a database's or Redis's too) cut to their origin
    without user or password, query strings, bearer tokens, session ids in
    paths and any long token-like run of characters replaced by ``…``."""
    text = _URL.sub(_origin, text)
    text = _QUERY.sub("?…", text)
    text = _BEARER.sub(r"\1 …", text)
    text = _PATH_ID.sub(r"\1…", text)
    return _TOKENISH.sub("…", text)
