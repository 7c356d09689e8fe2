"""A district's tier under faults: two ``finemotor server run`` processes sharing a private
PostgreSQL and a private Redis behind a round-robin load balancer. A desk runs a simulated
session through the balancer while a therapist watches live through it; then the process
holding the session's publisher is killed outright, Redis is killed and restarted empty, and
PostgreSQL is restarted as the session ends. The live view comes back within 5 s each time,
the desk's recording loses nothing, and the session reaches the server complete, once."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from balancer import Balancer
from bench.private_pg import PrivatePostgres
from bench.private_redis import PrivateRedis
from processes import ServerProcess, _cli, _free_port, _people, start_session, sync_json
from server_helpers import Db, browser, sign_in
from tests.host.aiotest import run

from finemotor.recording import Recording
from finemotor.server.database import database_url

pytestmark = pytest.mark.slow

SESSION_S = 40.0


class LiveWatch:
    """The therapist's live view through the balancer, reconnecting as the page does: the
    arrival time of every data frame, and how long each outage lasted."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.arrivals: list[float] = []
        self.connects = 0

    async def run(self, http: aiohttp.ClientSession, sid: str, until: float) -> None:
        ws_url = f"{self.base.replace('http', 'ws')}/ws/view/{sid}?i=watch-0001"
        loop = asyncio.get_running_loop()
        while loop.time() < until:
            try:
                async with http.ws_connect(ws_url, heartbeat=2.0) as ws:
                    self.connects += 1
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.TEXT and _is_data(msg.data):
                            self.arrivals.append(loop.time())
                        if loop.time() >= until:
                            return
            except (aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.2)

    def gap_after(self, t: float) -> float:
        """Seconds from ``t`` to the first frame after it."""
        later = [a for a in self.arrivals if a > t]
        return (later[0] - t) if later else float("inf")


def _is_data(text: str) -> bool:
    head = text[:12].replace(" ", "")
    return head.startswith('{"k":"d"')


def _redis_get(r: PrivateRedis, key: str) -> str | None:
    with socket.create_connection(("127.0.0.1", r.port), timeout=5.0) as s:
        s.sendall(f"GET {key}\r\n".encode())
        reply = s.recv(4096).decode()
    if reply.startswith("$-1"):
        return None
    return reply.split("\r\n")[1]


def test_the_tier_survives_a_killed_process_a_redis_restart_and_a_database_restart(
    postgres: PrivatePostgres, fresh_redis: PrivateRedis, tmp_path: Path
) -> None:
    raw = postgres.create_database("tier")
    db = Db("postgresql", ("--database", raw), database_url(None, raw))
    server_env = {**os.environ, "FINEMOTOR_DATA": str(tmp_path / "server-side")}
    desk_env = {**os.environ, "FINEMOTOR_DATA": str(tmp_path / "desk")}
    servers = [
        ServerProcess(db, _free_port(), server_env, ("--redis", fresh_redis.url)) for _ in range(2)
    ]
    for s in servers:
        s.start()
    lb = Balancer([s.port for s in servers])
    lb.start()
    session = None
    try:
        code = _people(db, server_env)
        _cli("enrol", "--server", lb.url, "--code", code, "--name", "Room 4", env=desk_env)
        session, _seen = start_session(desk_env, SESSION_S)

        async def watch_through_faults() -> dict[str, float]:
            loop = asyncio.get_running_loop()
            async with browser() as ot:
                await sign_in(ot, lb.url, "ot@district.example")
                sid = ""
                async with asyncio.timeout(20):
                    while not sid:
                        async with ot.get(f"{lb.url}/api/students") as r:
                            live = (await r.json())[0]["live"]
                        sid = live["watch"].rsplit("/", 1)[1] if live else ""
                        await asyncio.sleep(0.2)
                watch = LiveWatch(lb.url)
                until = loop.time() + SESSION_S
                watching = asyncio.create_task(watch.run(ot, sid, until))
                async with asyncio.timeout(15):
                    while len(watch.arrivals) < 20:
                        await asyncio.sleep(0.1)

                # 1. the process holding the publisher dies without a word
                holder = _redis_get(fresh_redis, f"fm:pub:{sid}")
                victim = next(s for s in servers if s.bus_id == holder)
                await asyncio.to_thread(victim.kill)
                killed = loop.time()
                await asyncio.sleep(7.0)
                after_kill = watch.gap_after(killed)

                # 2. Redis dies and comes back empty
                await asyncio.to_thread(fresh_redis.kill)
                await asyncio.sleep(1.0)
                await asyncio.to_thread(fresh_redis.start)
                back = loop.time()
                await asyncio.sleep(7.0)
                after_redis = watch.gap_after(back)
                watching.cancel()
                return {"kill": after_kill, "redis": after_redis}

        gaps = run(watch_through_faults(), SESSION_S + 30)
        print("live view back after", gaps)
        assert gaps["kill"] < 5.0, gaps
        assert gaps["redis"] < 5.0, gaps

        # 3. PostgreSQL restarts as the session ends and uploads
        postgres.restart(down_s=3.0)
        _out, err = session.communicate(timeout=180)
        assert session.returncode == 0, err
        assert "Traceback" not in err
        state = sync_json(desk_env)
        assert state["state"] == "complete", state
        with Recording(tmp_path / "desk" / "recordings.sqlite") as rec:
            (recorded,) = rec.list_sessions()
        counts = recorded.samples
        assert counts["stylus"] > 0 and counts["grip"] > 0

        async def on_server() -> Any:
            async with browser() as ot:
                await sign_in(ot, lb.url, "ot@district.example")
                async with ot.get(f"{lb.url}/api/students/S-1/sessions") as r:
                    return await r.json()

        (s,) = run(on_server())  # once: nothing duplicated
        assert {d["name"]: d["samples"] for d in s["devices"]} == counts
        assert s["state"] == "complete"
    finally:
        if session is not None and session.poll() is None:
            session.kill()
        lb.stop()
        for s in servers:
            s.stop()
