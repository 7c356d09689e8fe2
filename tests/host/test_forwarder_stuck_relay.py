"""A relay that accepts the publisher's WebSocket and then never reads: the forwarder's send
has a deadline, so it gives up on that connection, says so, and connects again (the session
itself never waits for the relay)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket

import numpy as np
from aiotest import eventually, run

from finemotor.calibration.model import DeviceCalibration
from finemotor.forwarder import Forwarder
from finemotor.relay import PublishedSession
from finemotor.samples import SampleBlock

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def stuck_relay(connections: list[socket.socket]) -> tuple[asyncio.Server, int]:
    """Answers every WebSocket handshake, then never reads a byte."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + _GUID.encode()).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        connections.append(sock)
        await asyncio.sleep(3600)  # holds the connection, reads nothing

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


def big_block(k: int) -> SampleBlock:
    """100 s of grip at 1 kHz: 5,000 display points, a frame of some 60 KB."""
    n = 100_000
    seq = np.arange(k * n, (k + 1) * n, dtype=np.int64)
    counts = (np.arange(n, dtype=np.int32) % 1000)[:, None]
    return SampleBlock("grip", ("force",), seq, seq / 1000.0, counts)


def test_a_relay_that_stops_reading_is_left_and_reconnected() -> None:
    async def main() -> None:
        connections: list[socket.socket] = []
        server, port = await stuck_relay(connections)
        fwd = Forwarder(f"http://127.0.0.1:{port}", PublishedSession.new("S-1"), devices=["grip"])
        await fwd.start()
        await eventually(lambda: fwd.connected)
        cal = DeviceCalibration.uncalibrated(1)
        k = 0

        def flooded() -> bool:
            nonlocal k
            fwd.blocks("grip", [big_block(k)], cal)
            k += 1
            return fwd.connects >= 2

        await eventually(flooded, 40.0)  # the stuck connection was given up, a new one made
        assert fwd.problem is None or "cannot be reached" in fwd.problem
        assert len(connections) >= 2
        await asyncio.wait_for(fwd.close(), 5.0)
        server.close()

    run(main(), 60.0)
