"""A load balancer for the tests: round-robin TCP to several server processes, skipping one
that refuses connections (as any load balancer with health checks does). It knows nothing of
HTTP or WebSockets, so nothing of the servers' sharing is done here."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future


class Balancer:
    """Listens on a free loopback port and spreads connections over ``ports``."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.port = 0
        self.routed: list[int] = []
        """The backend port of each connection, in order."""
        self._next = 0
        self._handlers: set[asyncio.Task[None]] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        threading.Thread(target=self._loop.run_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        done: Future[int] = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = done.result(10)

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._route(reader, writer)
        finally:
            self._handlers.discard(task)

    async def _route(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = None
        for _ in range(len(self.ports)):
            port = self.ports[self._next % len(self.ports)]
            self._next += 1
            try:
                async with asyncio.timeout(2.0):
                    upstream = await asyncio.open_connection("127.0.0.1", port)
                self.routed.append(port)
                break
            except (OSError, TimeoutError):
                continue
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
