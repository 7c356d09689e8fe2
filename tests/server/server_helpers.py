"""What the server's tests share: a server with a school, therapists and an enrolled desk, a
signed-in browser, and recordings made with the desk's real Recorder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from sqlalchemy.engine import URL

from finemotor.recording import Recorder
from finemotor.samples import SampleBlock
from finemotor.server.app import Server
from finemotor.sync.credential import DeskCredential, enrol


@dataclass(frozen=True)
class Db:
    """One database for a test: its kind, the command line's options naming it, its URL."""

    kind: str
    args: tuple[str, ...]
    url: URL


PASSWORD = "correct horse battery staple"
THERAPIST = "ot@district.example"
OTHER = "ot2@district.example"
ADMIN = "admin@district.example"
SCHOOL = "Oak Primary"


@dataclass
class World:
    """A running server with a school, a therapist (S-1 on her caseload), a second therapist
    (S-2 at another school), an admin, and one desk enrolled at the first school."""

    server: Server
    base: str
    desk: DeskCredential


async def world(url: URL, **server_kw: Any) -> World:
    server = Server(url, **server_kw)
    base = await server.start()
    store = server.store
    assert store is not None
    await store.add_user(THERAPIST, "therapist", PASSWORD)
    await store.add_user(OTHER, "therapist", PASSWORD)
    await store.add_user(ADMIN, "admin", PASSWORD)
    await store.add_school(SCHOOL)
    await store.add_school("Elm Middle")
    await store.add_to_caseload(THERAPIST, "S-1", SCHOOL)
    await store.add_to_caseload(OTHER, "S-2", "Elm Middle")
    code, _ = await store.new_enrol_code(SCHOOL)
    desk = await enrol(base, code, "desk 1")
    return World(server, base, desk)


def browser() -> aiohttp.ClientSession:
    """A client that keeps cookies as a browser does (also for a loopback address)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in(http: aiohttp.ClientSession, base: str, email: str) -> str:
    """Sign in; the CSRF token."""
    async with http.post(f"{base}/api/login", json={"email": email, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["csrf"])


def record(
    db: Path,
    student: str = "S-1",
    seconds: float = 10.0,
    rate_hz: float = 100.0,
    block: int = 20,
) -> int:
    """Record a grip session with the desk's own Recorder; its session number."""
    rec = Recorder(db, student=student)
    rec.add_device("grip", "grip", ("force",), rate_hz=rate_hz)
    n = int(seconds * rate_hz)
    rng = np.random.default_rng(7)
    for k in range(0, n, block):
        seq = np.arange(k, min(k + block, n), dtype=np.int64)
        counts = 20000 + 5000 * np.sin(seq / rate_hz) + rng.normal(0, 50, seq.shape[0])
        rec.add_block(
            "grip",
            SampleBlock(
                "grip", ("force",), seq, seq / rate_hz, counts.astype(np.int32).reshape(-1, 1)
            ),
        )
    rec.add_event("mark", {"text": "right hand", "id": 1}, device="grip", device_t=0.5)
    rec.add_metrics("grip", {"final": True, "peak": 1.0})
    rec.close()
    return rec.session_id
