"""The server tier: live sessions per server core, with 1, 2 and 4 ``finemotor server run``
processes sharing a private PostgreSQL and a private Redis.

Each level starts P server processes, enrols a desk, and runs ``finemotor loadtest``'s engine
(:func:`finemotor.loadtest.run_loadtest`, in this process) with S sessions replaying a
simulated recording at its real rate and V viewers each, the viewers of a session on other
processes than its publisher (so every frame crosses Redis when P > 1). It prints delivery,
publisher-to-viewer latency, and the server processes' CPU seconds (from /proc); **sessions per
core** is S divided by the cores the servers used (their CPU seconds over the seconds of
replay), which is what one core would carry at that cost. The load generator shares the
machine's cores, so a level is only counted when it met p95 ≤ 100 ms and ≥ 99.9 % delivered:
for each shape the sessions grow (100, 200, 300, 400) until a level misses, and the last level
that met both is the figure.

Upload ingest: D desks, each with its own recordings of 30-minute sessions, upload at once
(round-robin over the processes); printed as sessions per minute in all, and per server core
(the sessions over the minutes of CPU the server processes used).

``python -m bench bench_tier`` (part of ``make bench``); ``FM_TIER_SECONDS`` (default 30)
sets each level's length.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

from bench.bench_storage import SESSION_S, _record
from bench.private_pg import start_private_postgres
from bench.private_redis import start_private_redis
from bench.services import finemotor_service
from finemotor.loadtest import LoadOptions, LoadResult, process_cpu_s, run_loadtest
from finemotor.server.database import database_url
from finemotor.server.store import Store
from finemotor.sync.credential import DeskCredential, enrol, save_credential
from finemotor.sync.uploader import Uploader

SECONDS = float(os.environ.get("FM_TIER_SECONDS", "30"))
SHAPES = tuple(
    (int(p), int(v))
    for p, v in (
        shape.split("x")
        for shape in os.environ.get("FM_TIER_SHAPES", "1x1,1x2,2x1,2x2,4x1,4x2").split(",")
    )
)
"""(server processes, viewers per session); ``FM_TIER_SHAPES=1x1,2x1`` runs only those."""
SESSIONS = (100, 200, 300, 400, 500)
"""Sessions tried for each shape, in turn, until one misses p95 ≤ 100 ms or 99.9 %."""
CAPACITY_FLAGS = (
    "--max-sessions",
    "5000",
    "--registrations-per-min",
    "100000",
    "--address-rate",
    "1000000",
)


def _server(
    database: str, redis: str, env: dict[str, str]
) -> contextlib.AbstractContextManager[tuple[subprocess.Popen[str], int]]:
    """A ``finemotor server run`` process of the tier (sharing the database and Redis)."""
    return finemotor_service(
        ["server", "run", "--database", database, "--redis", redis, *CAPACITY_FLAGS], env
    )


async def _people(url: str) -> None:
    store = await Store.open(database_url(None, url))
    try:
        await store.add_user("ot@district.example", "therapist", "a long benchmark password")
        await store.add_school("Oak Primary")
        for i in range(8):
            await store.add_to_caseload("ot@district.example", f"S-{i}", "Oak Primary")
    finally:
        await store.close()


async def _desk(url: str, base: str, folder: Path) -> Path:
    store = await Store.open(database_url(None, url))
    try:
        code, _ = await store.new_enrol_code("Oak Primary")
    finally:
        await store.close()
    return save_credential(await enrol(base, code, "bench desk"), folder / "server.json")


UPLOAD_DESKS, UPLOAD_SESSIONS = 4, 2
"""Desks uploading at once, and 30-minute sessions each."""


async def _upload(
    database: str, urls: tuple[str, ...], folder: Path, pids: list[int]
) -> tuple[int, float, float]:
    """(sessions, wall seconds, server CPU seconds) of every desk uploading at once."""
    store = await Store.open(database_url(None, database))
    desks: list[tuple[DeskCredential, Path]] = []
    try:
        for d in range(UPLOAD_DESKS):
            code, _ = await store.new_enrol_code("Oak Primary")
            cred = await enrol(urls[d % len(urls)], code, f"upload desk {d}")
            desks.append((cred, folder / f"desk-{d}.sqlite"))
    finally:
        await store.close()
    before = sum(process_cpu_s(p) or 0.0 for p in pids)
    started = time.perf_counter()
    results = await asyncio.gather(
        *(Uploader(cred, db, deadline_s=900.0).sync() for cred, db in desks)
    )
    wall = time.perf_counter() - started
    cpu = sum(process_cpu_s(p) or 0.0 for p in pids) - before
    done = sum(1 for states in results for st in states if st.state == "complete")
    return done, wall, cpu


def _row(p: int, v: int, s: int, r: LoadResult) -> tuple[str, bool, float]:
    cpu = sum(x.cpu_s or 0.0 for x in r.server_cpu)
    cores = cpu / r.seconds if r.seconds else 0.0
    per_core = s / cores if cores else 0.0
    ok = (r.delivery_pct or 0.0) >= 99.9 and (r.latency.p95_ms or 1e9) <= 100.0
    lat = r.latency
    line = (
        f"| {p} | {v} | {s} | {r.delivery_pct or 0.0:.2f} % | {lat.p50_ms} | {lat.p95_ms} "
        f"| {lat.p99_ms} | {cpu:.1f} s | {per_core:.0f} | {'yes' if ok else 'no'} |"
    )
    return line, ok, per_core


def main() -> None:
    pg = start_private_postgres()
    redis = start_private_redis()
    folder = Path(tempfile.mkdtemp(prefix="fm-tier-"))
    env = {**os.environ, "FINEMOTOR_DATA": str(folder / "server-side")}
    try:
        database = pg.create_database("tier")
        asyncio.run(_people(database))
        print(
            f"{SECONDS:g} s per level; sessions replay the simulated recording (stylus 200 Hz, "
            "grip 320 Hz); viewers on other processes than their publisher"
        )
        print(
            "| processes | viewers/session | sessions | delivered | p50 ms | p95 ms | p99 ms "
            "| server CPU | sessions per core | p95 ≤ 100 ms, ≥ 99.9 % |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        desk: Path | None = None
        best: list[str] = []
        for p, v in SHAPES:
            kept = 0.0
            for n in SESSIONS:
                with contextlib.ExitStack() as stack:
                    procs = [
                        stack.enter_context(_server(database, redis.url, env)) for _ in range(p)
                    ]
                    urls = tuple(f"http://127.0.0.1:{port}" for _, port in procs)
                    if desk is None:
                        desk = asyncio.run(_desk(database, urls[0], folder))
                    opts = LoadOptions(urls, n, v, SECONDS, desk=desk)
                    result = asyncio.run(run_loadtest(opts))
                    line, ok, per_core = _row(p, v, n, result)
                    print(line, flush=True)
                time.sleep(1.0)
                if not ok:
                    break
                kept = per_core
            best.append(f"{p} process(es), {v} viewer(s): {kept:.0f} sessions per core")
        print("kept p95 ≤ 100 ms and ≥ 99.9 % at: " + "; ".join(best))

        for d in range(UPLOAD_DESKS):  # each desk its own recordings
            for k in range(UPLOAD_SESSIONS):
                _record(folder / f"desk-{d}.sqlite", f"S-{k}", 100 * d + k)
        with contextlib.ExitStack() as stack:
            procs = [stack.enter_context(_server(database, redis.url, env)) for _ in range(2)]
            urls = tuple(f"http://127.0.0.1:{port}" for _, port in procs)
            done, wall, cpu = asyncio.run(
                _upload(database, urls, folder, [proc.pid for proc, _ in procs])
            )
            print(
                f"upload ingest: {UPLOAD_DESKS} desks at once, {done} sessions of "
                f"{SESSION_S / 60:.0f} min over 2 processes in {wall:.1f} s: "
                f"{done / (wall / 60):.1f} sessions/min in all (desks and servers sharing the "
                f"cores), {done / (cpu / 60):.1f} sessions per minute of server CPU"
            )
    finally:
        redis.stop()
        pg.stop()


if __name__ == "__main__":
    main()
