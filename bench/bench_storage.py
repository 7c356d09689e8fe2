"""What the server stores per session, and how fast it takes sessions in.

Three 30-minute sessions with both devices at their default rates (stylus 200 Hz x 3
channels, grip 320 Hz x 1 channel; device times from integer microsecond ticks with timer
jitter, counts with sensor noise) are recorded at a desk with its own Recorder, then uploaded
by the desk's Uploader to a server on SQLite and on a private PostgreSQL. Printed: bytes per
session on each database (and at the desk), the total for a district year (10,000 students,
one 30-minute session a week, 36 weeks), and the upload throughput in sessions per minute.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import text

from bench.private_pg import start_private_postgres
from finemotor.recording import Recorder
from finemotor.samples import SampleBlock
from finemotor.server.app import Server
from finemotor.server.database import database_url
from finemotor.sync.credential import enrol
from finemotor.sync.uploader import Uploader

SESSION_S = 30 * 60.0
SESSIONS = 3
DISTRICT_SESSIONS_PER_YEAR = 10_000 * 36
STYLUS_HZ, GRIP_HZ = 200.0, 320.0
BLOCK = 16


def _ticks(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    ideal = np.arange(n) * (1e6 / rate) + 5_000_000.0
    return np.round(ideal + rng.normal(0.0, 20.0, n)).astype(np.int64)


def _stylus(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / STYLUS_HZ
    pen_down = (np.sin(2 * np.pi * t / 7.0) > -0.3).astype(float)
    tip = 9000 + pen_down * (60000 + 15000 * np.sin(2 * np.pi * 3.1 * t)) + rng.normal(0, 40, n)
    a = 7000 + 30000 * (0.6 + 0.4 * np.sin(2 * np.pi * t / 11.0)) + rng.normal(0, 40, n)
    b = 6500 + 28000 * (0.6 + 0.4 * np.cos(2 * np.pi * t / 13.0)) + rng.normal(0, 40, n)
    return np.stack([tip, a, b], axis=1).astype(np.int32)


def _grip(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / GRIP_HZ
    squeeze = np.clip(np.sin(2 * np.pi * t / 30.0), 0, None) ** 2
    force = 12000 + 900000 * squeeze + rng.normal(0, 60, n)
    return force.astype(np.int32).reshape(-1, 1)


def _record(db: Path, student: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rec = Recorder(db, student=student)
    for name, rate, make, channels in (
        ("stylus", STYLUS_HZ, _stylus, ("tip", "barrel_a", "barrel_b")),
        ("grip", GRIP_HZ, _grip, ("force",)),
    ):
        n = int(SESSION_S * rate)
        rec.add_device(name, name, channels, rate_hz=rate)
        t = _ticks(n, rate, rng) / 1e6
        counts = make(n, rng)
        for k in range(0, n, BLOCK):
            seq = np.arange(k, min(k + BLOCK, n), dtype=np.int64)
            rec.add_block(name, SampleBlock(name, channels, seq, t[seq], counts[seq]))  # type: ignore[arg-type]
    rec.close()


async def _server_bytes(server: Server, kind: str) -> int:
    """The database's size with the space of deleted rows given back (what uploads leave
    behind once their staged blocks are compacted: later uploads reuse that space)."""
    store = server.store
    assert store is not None
    engine = store.engine.execution_options(isolation_level="AUTOCOMMIT")
    async with engine.connect() as c:
        if kind == "postgresql":
            await c.execute(text("VACUUM FULL"))
            return int(
                (await c.execute(text("SELECT pg_database_size(current_database())"))).scalar_one()
            )
        await c.execute(text("VACUUM"))
        await c.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        pages = (await c.execute(text("PRAGMA page_count"))).scalar_one()
        size = (await c.execute(text("PRAGMA page_size"))).scalar_one()
        return int(pages) * int(size)


async def _run(kind: str, url: str | Path, desk_db: Path) -> tuple[float, float]:
    server = Server(database_url(url, None) if kind == "sqlite" else database_url(None, str(url)))
    base = await server.start()
    try:
        store = server.store
        assert store is not None
        await store.add_user("ot@district.example", "therapist", "a long benchmark password")
        await store.add_school("Oak Primary")
        for i in range(SESSIONS):
            await store.add_to_caseload("ot@district.example", f"S-{i}", "Oak Primary")
        code, _ = await store.new_enrol_code("Oak Primary")
        desk = await enrol(base, code, "bench desk")
        empty = await _server_bytes(server, kind)
        started = time.perf_counter()
        states = await Uploader(desk, desk_db, deadline_s=600.0).sync()
        elapsed = time.perf_counter() - started
        assert all(s.state == "complete" for s in states), states
        per_session = (await _server_bytes(server, kind) - empty) / SESSIONS
        return per_session, SESSIONS / (elapsed / 60.0)
    finally:
        await server.stop()


def main() -> None:
    """Print the storage and upload figures."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        desk_db = folder / "desk.sqlite"
        for i in range(SESSIONS):
            _record(desk_db, f"S-{i}", i)
        desk_bytes = os.path.getsize(desk_db) / SESSIONS
        samples = SESSION_S * (STYLUS_HZ + GRIP_HZ)
        print(
            f"session: 30 min, stylus {STYLUS_HZ:.0f} Hz x 3 + grip {GRIP_HZ:.0f} Hz x 1 "
            f"= {samples:,.0f} samples"
        )
        print(f"  at the desk (SQLite recording): {desk_bytes / 1e6:.2f} MB per session")
        pg = start_private_postgres()
        try:
            results = {}
            for kind in ("sqlite", "postgresql"):
                desk_copy = folder / f"desk-{kind}.sqlite"  # each server gets every session
                shutil.copy(desk_db, desk_copy)
                target = folder / "server" if kind == "sqlite" else pg.create_database("bench")
                results[kind] = asyncio.run(_run(kind, target, desk_copy))
        finally:
            pg.stop()
        for kind, (per_session, rate) in results.items():
            year = per_session * DISTRICT_SESSIONS_PER_YEAR
            print(
                f"  server on {kind}: {per_session / 1e6:.2f} MB per session "
                f"({per_session / samples:.1f} B/sample); district year "
                f"({DISTRICT_SESSIONS_PER_YEAR:,} sessions) {year / 1e12:.2f} TB; "
                f"upload {rate:.1f} sessions/min (one desk, one process)"
            )
        print(
            f"  median upload rate: {statistics.median(r for _, r in results.values()):.1f} "
            "sessions/min"
        )


if __name__ == "__main__":
    main()
