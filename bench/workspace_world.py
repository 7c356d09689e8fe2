"""A running server with therapists, a school, an enrolled desk and uploaded simulated
sessions, on its own event loop in a thread: what the workspace's browser tests and benchmark
drive Chromium against."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from bench.sim_session import record_sim_session
from finemotor.relay import PublishedSession
from finemotor.relay.tokens import DESK_HEADER
from finemotor.server.app import Server
from finemotor.server.database import database_url
from finemotor.sync.credential import DeskCredential, enrol
from finemotor.sync.uploader import Uploader

PASSWORD = "correct horse battery staple"
THERAPIST = "ot@district.example"
OTHER = "ot2@district.example"
ADMIN = "admin@district.example"
SCHOOL = "Oak Primary"
DAY_S = 86400.0
T = TypeVar("T")


class World:
    """The server (in a thread) and what is in it.

    Args:
        folder: where the server's and the desk's databases go.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = Server(database_url(folder / "server", None))
        self.base: str = self.call(self.server.start())
        self.desk: DeskCredential = self.call(self._people())
        self.desk_db = folder / "desk.db"
        self.sessions: list[int] = []

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 300.0) -> T:
        """Run ``coro`` on the server's loop; its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _people(self) -> DeskCredential:
        store = self.server.store
        assert store is not None
        await store.add_user(THERAPIST, "therapist", PASSWORD)
        await store.add_user(OTHER, "therapist", PASSWORD)
        await store.add_user(ADMIN, "admin", PASSWORD)
        await store.add_school(SCHOOL)
        await store.add_school("Elm Middle")
        await store.add_to_caseload(THERAPIST, "S-1", SCHOOL)
        await store.add_to_caseload(OTHER, "S-2", "Elm Middle")
        code, _ = await store.new_enrol_code(SCHOOL)
        return await enrol(self.base, code, "desk 1")

    def add_students(self, n: int) -> None:
        """Put ``n`` more students (S-100...) on the therapist's caseload."""

        async def go() -> None:
            store = self.server.store
            assert store is not None
            for k in range(n):
                await store.add_to_caseload(THERAPIST, f"S-{100 + k}", SCHOOL)

        self.call(go())

    def record_and_upload(
        self, student: str, seconds: float, days_ago: float, seed: int = 1, gain: float = 1.0
    ) -> None:
        """Record a simulated session at the desk and upload it as `finemotor sync` does."""
        record_sim_session(
            self.desk_db, student, seconds, seed, time.time() - days_ago * DAY_S, gain
        )
        self.call(Uploader(self.desk, self.desk_db).sync())

    def server_sessions(self, student: str) -> list[int]:
        """The server's session ids of ``student``, oldest first."""

        async def go() -> list[int]:
            store = self.server.store
            assert store is not None
            from finemotor.server.records import Records  # noqa: PLC0415

            rows = await Records(store).session_rows(await store.student(student))
            return [r.id for r in rows]

        return self.call(go())

    def publish(self, student: str, seconds: float) -> str:
        """Publish a live session for ``student`` with the desk's credential (grip force
        frames every 50 ms for ``seconds``, in the background); the relay's session id."""
        s = PublishedSession.new(student)
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        async def go() -> None:
            async with aiohttp.ClientSession() as http:
                headers = s.publisher_headers() | {DESK_HEADER: self.desk.credential}
                ws = await http.ws_connect(
                    f"{self.base.replace('http', 'ws')}/ws/publish/{s.session_id}",
                    headers=headers,
                )
                hello = {"k": "hello", "student": student, "devs": ["grip"]}
                await ws.send_str(json.dumps(hello))
                ready.set_result(None)
                end = time.monotonic() + seconds
                k = 0
                while time.monotonic() < end:
                    now = time.time() * 1000.0
                    ts = [now - 40.0 + 10.0 * i for i in range(5)]
                    force = [20.0 + 10.0 * ((k + i) % 50) / 50.0 for i in range(5)]
                    frame = {
                        "k": "d",
                        "dev": "grip",
                        "t": ts,
                        "tr": {"force": force},
                        "u": {"force": "N"},
                    }
                    await ws.send_str(json.dumps(frame))
                    k += 5
                    await asyncio.sleep(0.05)
                await ws.close()

        self._live = asyncio.run_coroutine_threadsafe(go(), self.loop)
        ready.result(15)
        return s.session_id

    def close(self) -> None:
        """Stop the server and its thread."""
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
