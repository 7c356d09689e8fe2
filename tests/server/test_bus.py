"""Two relay processes sharing live sessions through a private Redis (here two relays in one
test process, each with its own connection to Redis, as two processes would have): a viewer
on one sees the publisher on the other, marks travel back, a publisher moves between them,
registrations are limited across both, and a Redis that restarts empty is refilled."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
import redis.asyncio
from bench.private_redis import PrivateRedis
from tests.host.aiotest import run
from tests.host.relay_helpers import pub_headers, raw_viewer_that_never_reads

from finemotor.relay import PublishedSession, Relay, RelayLimits
from finemotor.relay.bus import HEARTBEAT_S, PREFIX, PRESENCE_S, BusError, RedisBus


@asynccontextmanager
async def relays(
    url: str, n: int = 2, limits: RelayLimits | None = None
) -> AsyncIterator[list[Relay]]:
    started: list[Relay] = []
    try:
        for _ in range(n):
            r = Relay(limits=limits, bus=RedisBus(url))
            await r.start()
            started.append(r)
        yield started
    finally:
        for r in started:
            await r.stop()


async def _publisher(
    http: aiohttp.ClientSession, relay: Relay, s: PublishedSession
) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(
        f"{relay.url.replace('http', 'ws')}/ws/publish/{s.session_id}", headers=pub_headers(s)
    )
    await ws.send_str(json.dumps({"k": "hello", "student": s.student, "devs": ["grip"]}))
    return ws


async def _viewer(
    http: aiohttp.ClientSession, relay: Relay, s: PublishedSession, page: str = "page-0001"
) -> aiohttp.ClientWebSocketResponse:
    return await http.ws_connect(
        f"{relay.url.replace('http', 'ws')}/ws/view/{s.session_id}?t={s.viewer_token}&i={page}"
    )


async def _next(ws: aiohttp.ClientWebSocketResponse, kind: str, seconds: float = 5.0) -> Any:
    async with asyncio.timeout(seconds):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            frame = json.loads(msg.data)
            if frame.get("k") == kind:
                return frame


def _data(n: int) -> str:
    return json.dumps({"k": "d", "dev": "grip", "t": [float(n)], "tr": {"force": [1.5]}})


def test_a_viewer_on_one_process_watches_a_publisher_on_another(fresh_redis: PrivateRedis) -> None:
    async def go() -> None:
        async with relays(fresh_redis.url) as (a, b), aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-1")
            pub = await _publisher(http, a, s)
            await pub.send_str(json.dumps({"k": "s", "dev": "grip", "link": "ok", "battery": 80}))
            await asyncio.sleep(HEARTBEAT_S + 0.5)  # the kept frames reach Redis
            view = await _viewer(http, b, s)
            assert (await _next(view, "pub"))["up"] is True
            assert (await _next(view, "hello"))["devs"] == ["grip"]  # kept, from Redis
            assert (await _next(view, "s"))["battery"] == 80
            for n in range(50):
                await pub.send_str(_data(n))
            got = []
            while len(got) < 50:
                got.append((await _next(view, "d"))["t"][0])
            assert got == [float(n) for n in range(50)]  # every frame, in order

            # a mark from the viewer on B reaches the publisher on A, numbered once
            await view.send_str(json.dumps({"k": "mark", "text": "start copy", "cid": 7}))
            sent = await _next(view, "marksent")
            mark = await _next(pub, "mark")
            assert (mark["id"], mark["text"]) == (sent["id"], "start copy")
            await pub.send_str(json.dumps({"k": "ack", "id": mark["id"], "text": "start copy"}))
            assert (await _next(view, "ack"))["id"] == mark["id"]

            # B lists the session as live (read from Redis), publishing
            async with asyncio.timeout(6):
                while not any(x["sid"] == s.session_id and x["publishing"] for x in b.live()):
                    await asyncio.sleep(0.1)

            # the publisher goes: the viewer on B hears it
            await pub.close()
            assert (await _next(view, "pub"))["up"] is False
            await view.close()

    run(go(), 40)


def test_the_publisher_hears_the_viewers_on_every_process(fresh_redis: PrivateRedis) -> None:
    async def go() -> None:
        async with relays(fresh_redis.url) as (a, b), aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-1")
            pub = await _publisher(http, a, s)
            here = await _viewer(http, a, s, "page-0001")
            assert (await _next(pub, "watch"))["n"] == 1
            there = await _viewer(http, b, s, "page-0002")
            assert (await _next(pub, "watch"))["n"] == 2  # B's viewer, through Redis
            await here.close()
            assert (await _next(pub, "watch"))["n"] == 1
            # the publisher moves to B: it hears B's viewer there at once and A's none
            await pub.close()
            moved = await _publisher(http, b, s)
            assert (await _next(moved, "watch"))["n"] == 1
            await there.close()
            assert (await _next(moved, "watch"))["n"] == 0
            # a viewer's process that dies without a word stops counting within a lease
            gone = await _viewer(http, a, s, "page-0003")
            assert (await _next(moved, "watch"))["n"] == 1
            assert a.bus is not None
            a.bus.control = lambda sid, message: None  # A's word stops reaching Redis
            await gone.close()
            assert (await _next(moved, "watch", PRESENCE_S + 2 * HEARTBEAT_S + 2))["n"] == 0
            await moved.close()

    run(go(), 60)


def test_frames_go_only_to_the_processes_that_watch(
    fresh_redis: PrivateRedis,
) -> None:
    async def go() -> None:
        spy = redis.asyncio.from_url(fresh_redis.url)
        async with relays(fresh_redis.url) as (a, b), aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-1")
            channel = f"{PREFIX}f:{s.session_id}"
            listener = spy.pubsub()
            await listener.subscribe(channel)
            await listener.psubscribe(f"{PREFIX}process:*")  # frames sent to a process

            async def published(seconds: float) -> list[bytes]:
                got = []
                end = asyncio.get_running_loop().time() + seconds
                while (left := end - asyncio.get_running_loop().time()) > 0:
                    msg = await listener.get_message(ignore_subscribe_messages=True, timeout=left)
                    if msg is not None:
                        got.append(msg["data"])
                return got

            pub = await _publisher(http, a, s)
            await asyncio.sleep(PRESENCE_S + 0.5)  # past the new publisher's grace
            await published(0.2)  # what the grace let through
            for n in range(20):
                await pub.send_str(_data(n))
            assert [m for m in await published(1.0) if b'"k": "d"' in m] == []  # no one watches
            view = await _viewer(http, b, s)
            assert (await _next(pub, "watch"))["n"] == 1  # A heard of B's viewer
            for n in range(20, 40):
                await pub.send_str(_data(n))
            got = [(await _next(view, "d"))["t"][0] for _ in range(20)]
            assert got == [float(n) for n in range(20, 40)]
            # they went to B's own channel (several frames in a message when they come at once)
            sent = [m for m in await published(1.0) if b'"k": "d"' in m]
            assert sent and all(m.startswith(s.session_id.encode() + b"\x1f") for m in sent)
            assert sum(m.count(b'"k": "d"') for m in sent) == 20
            await view.close()
            await pub.close()
            await listener.aclose()
        await spy.aclose()

    run(go(), 60)


def test_the_viewer_limit_holds_across_processes(fresh_redis: PrivateRedis) -> None:
    async def go() -> None:
        limits = RelayLimits(max_viewers=2)
        async with (
            relays(fresh_redis.url, limits=limits) as (a, b),
            aiohttp.ClientSession() as http,
        ):
            s = PublishedSession.new("S-1")
            pub = await _publisher(http, a, s)
            on_a = await _viewer(http, a, s, "page-0001")
            on_b = await _viewer(http, b, s, "page-0002")
            assert a.bus is not None and b.bus is not None
            async with asyncio.timeout(5):  # each process's count reaches Redis
                while await a.bus.viewers_elsewhere(s.session_id) != 1:
                    await asyncio.sleep(0.05)
            third = await _viewer(http, a, s, "page-0003")
            msg = await third.receive()
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert third.close_code == 1013  # try again later: two watch already, on A and B
            await on_b.close()
            async with asyncio.timeout(5):
                while await a.bus.viewers_elsewhere(s.session_id) != 0:
                    await asyncio.sleep(0.05)
            again = await _viewer(http, a, s, "page-0004")
            assert (await _next(again, "pub"))["up"] is True  # a place is free again
            for ws in (again, on_a, pub):
                await ws.close()

    run(go(), 40)


def test_a_publisher_that_moves_takes_its_session_along(fresh_redis: PrivateRedis) -> None:
    async def go() -> None:
        async with relays(fresh_redis.url) as (a, b), aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-1")
            first = await _publisher(http, a, s)
            view = await _viewer(http, a, s)
            assert (await _next(view, "pub"))["up"] is True
            # the same publisher comes back through the other process (its old connection
            # half-open): the old one is closed, the viewer on A keeps receiving
            second = await _publisher(http, b, s)
            async with asyncio.timeout(5):
                msg = await first.receive()
                while msg.type == aiohttp.WSMsgType.TEXT:
                    msg = await first.receive()
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            await second.send_str(_data(1))
            assert (await _next(view, "d"))["t"] == [1.0]
            # a wrong token is refused on the process that did not register the session
            bad = PublishedSession(s.session_id, "x" * 32, s.viewer_token, "S-1", s.expires_at)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(
                    f"{a.url.replace('http', 'ws')}/ws/publish/{s.session_id}",
                    headers=pub_headers(bad),
                )
            assert refused.value.status == 403
            wrong = f"{b.url.replace('http', 'ws')}/ws/view/{s.session_id}?t={'y' * 32}"
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await http.ws_connect(wrong)
            await second.close()
            await view.close()

    run(go(), 40)


def test_a_viewer_that_never_reads_slows_no_one_on_either_process(
    fresh_redis: PrivateRedis,
) -> None:
    async def go() -> None:
        async with relays(fresh_redis.url) as (a, b), aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-1")
            pub = await _publisher(http, a, s)
            stuck = await raw_viewer_that_never_reads(b, s)
            near = await _viewer(http, b, s, "page-0001")  # beside the stuck one
            far = await _viewer(http, a, s, "page-0002")  # with the publisher
            pad = "x" * 20000  # fills the stuck socket's buffers quickly
            sent = 300
            for n in range(sent):
                frame = json.loads(_data(n))
                frame["pad"] = pad
                await pub.send_str(json.dumps(frame))
                await asyncio.sleep(0.002)
            for ws in (near, far):
                got = []
                while len(got) < sent:
                    got.append((await _next(ws, "d"))["t"][0])
                assert got == [float(n) for n in range(sent)]
            stuck.close()
            await pub.close()

    run(go(), 40)


def test_registrations_are_limited_across_processes(fresh_redis: PrivateRedis) -> None:
    limits = RelayLimits(registrations_per_min=1.0, registration_burst=2.0)

    async def go() -> None:
        async with relays(fresh_redis.url, 2, limits) as (a, b), aiohttp.ClientSession() as http:
            await _publisher(http, a, PublishedSession.new("S-1"))
            await _publisher(http, b, PublishedSession.new("S-2"))
            for r in (a, b):
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await _publisher(http, r, PublishedSession.new("S-3"))
                assert refused.value.status == 429

    run(go(), 30)


def test_redis_restarting_empty_is_refilled_and_the_view_resumes(
    fresh_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> None:
        async with relays(fresh_redis.url) as (a, b), aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-1")
            pub = await _publisher(http, a, s)
            view = await _viewer(http, b, s)
            await _next(view, "hello")
            fresh_redis.kill()  # everything in it is gone
            for n in range(5):  # meanwhile: the publisher is not disturbed
                await pub.send_str(_data(n))
                await asyncio.sleep(0.05)
            assert not pub.closed
            await asyncio.sleep(0.5)
            fresh_redis.start()  # empty
            loop = asyncio.get_running_loop()
            back = loop.time()
            n = 100
            async with asyncio.timeout(5):  # the live view resumes within 5 s
                while True:
                    n += 1
                    await pub.send_str(_data(n))
                    try:
                        async with asyncio.timeout(0.2):
                            frame = await _next(view, "d")
                        if frame["t"][0] > 100:
                            break
                    except TimeoutError:
                        continue
            resumed = loop.time() - back
            assert resumed < 5.0
            # and the session is known to Redis again: a new viewer on B (which forgets
            # nothing here, so ask a third process) finds it
            c = Relay(bus=RedisBus(fresh_redis.url))
            await c.start()
            try:
                async with asyncio.timeout(6):
                    while True:
                        try:
                            late = await _viewer(http, c, s, "page-0002")
                            break
                        except aiohttp.WSServerHandshakeError:
                            await asyncio.sleep(0.2)
                assert (await _next(late, "hello"))["devs"] == ["grip"]
                await late.close()
            finally:
                await c.stop()
            await pub.close()
            await view.close()

    with caplog.at_level(logging.INFO, logger="finemotor.relay.bus"):
        run(go(), 60)
    text = caplog.text
    assert "Redis does not answer" in text and "Redis answers again" in text
    assert "for viewers on other processes were lost meanwhile" in text
    assert "redis://" not in text.replace("Redis at redis://127.0.0.1", "")


def test_a_redis_that_does_not_answer_at_start_is_one_sentence() -> None:
    async def go() -> None:
        relay = Relay(bus=RedisBus("redis://:secret-password@127.0.0.1:9/0"))
        with pytest.raises(BusError) as refused:
            await relay.start()
        text = str(refused.value)
        assert "does not answer" in text and "--redis" in text
        assert "secret-password" not in text

    run(go(), 20)


def test_a_burst_of_new_sessions_all_reach_redis(fresh_redis: PrivateRedis) -> None:
    """Many desks starting at once (a school's first period): every session's record reaches
    Redis (its commands wait for a connection rather than fail), so every viewer on the other
    process is admitted."""
    limits = RelayLimits(registrations_per_min=1e5, registration_burst=1e5, max_sessions=1000)

    async def go() -> None:
        async with (
            relays(fresh_redis.url, 2, limits) as (a, b),
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
        ):
            sessions = [PublishedSession.new(f"S-{k}") for k in range(200)]
            pubs = await asyncio.gather(*(_publisher(http, a, s) for s in sessions))
            views = await asyncio.gather(
                *(_viewer(http, b, s, f"page-{k:04d}") for k, s in enumerate(sessions))
            )
            assert len(views) == 200  # none refused
            for ws in (*pubs, *views):
                await ws.close()

    run(go(), 60)
