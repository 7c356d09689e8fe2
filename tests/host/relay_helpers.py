"""Helpers shared by the relay's tests: a publisher's handshake headers, a publisher that
has said hello, what a publisher receives besides the viewer counts, and a viewer that never
reads."""

from __future__ import annotations

import asyncio
import json
import socket

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


async def to_publisher(pub: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """The publisher's next message other than a count of viewers (``watch``)."""
    while True:
        msg = await pub.receive()
        if msg.type != aiohttp.WSMsgType.TEXT or json.loads(msg.data).get("k") != "watch":
            return msg


async def raw_viewer_that_never_reads(relay: Relay, s: PublishedSession) -> socket.socket:
    """A viewer that completes the WebSocket handshake, then never reads a byte."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (relay.host, relay.port))
    request = (
        f"GET /ws/view/{s.session_id}?t={s.viewer_token} HTTP/1.1\r\n"
        f"Host: {relay.host}:{relay.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += await loop.sock_recv(sock, 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock
