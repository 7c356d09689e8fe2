"""Helpers shared by the relay's tests: a publisher's handshake headers, and a publisher that
has said hello."""

from __future__ import annotations

import json

import aiohttp

from finemotor.relay import PublishedSession, Relay


def pub_headers(s: PublishedSession, token: str | None = None) -> dict[str, str]:
    """The publisher's handshake headers, with another token if given."""
    headers = s.publisher_headers()
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


async def publish(
    http: aiohttp.ClientSession,
    relay: Relay,
    s: PublishedSession,
    devs: tuple[str, ...] = ("grip",),
) -> aiohttp.ClientWebSocketResponse:
    """A publisher connected to ``s`` that has said hello, declaring ``devs``."""
    ws = relay.url.replace("http", "ws")
    pub = await http.ws_connect(f"{ws}/ws/publish/{s.session_id}", headers=pub_headers(s))
    await pub.send_str(json.dumps({"k": "hello", "student": s.student, "devs": list(devs)}))
    return pub
