"""The relay under attack and bad luck: stalled sockets, floods, junk frames, junk clients.

Each test sets the limit it checks small (``RelayLimits``) and drives the relay with real
sockets: aiohttp clients, and raw TCP where a client must misbehave below WebSocket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp
import pytest
from aiotest import eventually, run
from relay_helpers import pub_headers, publish, raw_viewer_that_never_reads, to_publisher

from finemotor.forwarder import Forwarder
from finemotor.relay import PublishedSession, Relay, RelayLimits
from finemotor.relay.server import TRY_AGAIN_LATER


def ws_base(relay: Relay) -> str:
    return relay.url.replace("http", "ws")


async def view(
    http: aiohttp.ClientSession, relay: Relay, s: PublishedSession, instance: str | None = None
) -> aiohttp.ClientWebSocketResponse:
    page = f"&i={instance}" if instance else ""
    url = f"{ws_base(relay)}/ws/view/{s.session_id}?t={s.viewer_token}{page}"
    return await http.ws_connect(url)


async def frames_until_close(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    out = []
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            out.append(json.loads(msg.data))
    return out


def test_a_viewer_that_never_reads_stalls_nothing_else() -> None:
    """One stuck socket (handshake done, never reads, its session flooded) must not keep
    other sessions past their expiry, hold their slots, or stall the relay's stop."""

    async def main() -> None:
        limits = RelayLimits(
            publisher_rate=1e6,
            publisher_burst=1e6,
            send_timeout_s=120.0,  # the stuck send is not cut: only the close deadline helps
            close_timeout_s=0.5,
        )
        relay = Relay(limits=limits)
        await relay.start()
        http = aiohttp.ClientSession()
        stuck = PublishedSession.new("S-STUCK", ttl_s=1.0)
        others = [PublishedSession.new(f"S-{i}", ttl_s=2.0) for i in range(3)]
        pub = await publish(http, relay, stuck)
        sock = await raw_viewer_that_never_reads(relay, stuck)
        other_pubs = [await publish(http, relay, s) for s in others]
        viewers = [await view(http, relay, s) for s in others]
        await eventually(
            lambda: all(relay.sessions[s.session_id].viewers for s in [stuck, *others])
        )
        big = {"k": "d", "dev": "grip", "t": [0.0], "tr": {"force": [1.0]}, "pad": "x" * 60000}
        flood_until = time.monotonic() + 4.0
        flood = json.dumps(big)
        while time.monotonic() < flood_until and not pub.closed:
            try:
                await pub.send_str(flood)
            except ConnectionError:  # the stuck session expired: its publisher is closed
                break
            await asyncio.sleep(0)
        # The other sessions ended on time: their viewers got "end" and were closed...
        for v in viewers:
            got = await asyncio.wait_for(frames_until_close(v), 5.0)
            assert {"k": "end", "why": "the session has expired"} in got
        # ...their slots are free, and so is the stuck session's.
        await eventually(lambda: not relay.sessions, 5.0)
        # A new session is admitted, and the relay stops promptly.
        fresh = PublishedSession.new("S-NEW")
        await publish(http, relay, fresh)
        await eventually(lambda: fresh.session_id in relay.sessions)
        await asyncio.wait_for(relay.stop(), 5.0)
        for p in other_pubs:
            await p.close()
        await http.close()
        sock.close()

    run(main())


def test_the_cache_holds_only_declared_devices_and_a_flood_of_keys_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async with Relay() as relay, aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-CACHE")
            for n in range(50):
                pub = await publish(http, relay, s, devs=("grip",))
                await pub.send_str(json.dumps({"k": "m", "dev": "grip", "tiles": {}}))
                tile = {"x": {"label": "y" * 100}}
                await pub.send_str(json.dumps({"k": "m", "dev": f"dev{n}", "tiles": tile}))
                msg = await to_publisher(pub)
                assert msg.type == aiohttp.WSMsgType.CLOSE
                assert pub.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
            sess = relay.sessions[s.session_id]
            assert set(sess.latest) == {("hello", ""), ("m", "grip")}
            assert relay.cache_bytes == sum(len(v) for v in sess.latest.values()) < 1000
            # A metrics frame larger than its kind allows is refused too.
            pub = await publish(http, relay, s, devs=("grip",))
            huge = {"k": "m", "dev": "grip", "tiles": {"x": {"label": "y" * 40000}}}
            await pub.send_str(json.dumps(huge))
            assert (await to_publisher(pub)).type == aiohttp.WSMsgType.CLOSE
            assert relay.cache_bytes < 1000

    with caplog.at_level(logging.INFO):
        run(main())
    refusals = [r for r in caplog.records if "closing its connection" in r.getMessage()]
    assert len(refusals) == 51
    assert all("\n" not in r.getMessage() and r.exc_info is None for r in refusals)


def test_publisher_rate_is_per_session_and_per_address_and_survives_reconnects() -> None:
    async def main() -> None:
        limits = RelayLimits(
            publisher_rate=1.0, publisher_burst=20.0, address_rate=1.0, address_burst=50.0
        )
        async with Relay(limits=limits) as relay, aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-RATE")
            frame = json.dumps({"k": "d", "dev": "grip", "t": [1.0], "tr": {"force": [2.0]}})
            first = await publish(http, relay, s)
            v = await view(http, relay, s)
            got: list[dict[str, Any]] = []

            async def read() -> None:
                async for m in v:
                    got.append(json.loads(m.data))

            reader = asyncio.create_task(read())
            await first.close()
            for _ in range(10):  # ten connections, 30 frames each
                pub = await publish(http, relay, s)
                for _ in range(30):
                    await pub.send_str(frame)
                await pub.close()
            sess = relay.sessions[s.session_id]
            await eventually(lambda: sess.dropped_in > 0 and not sess.publisher)
            data = [f for f in got if f["k"] == "d"]
            # 11 hellos + 300 frames against one bucket of 20: reconnecting refilled nothing
            # (a bucket per connection would have let 10 x 19 frames through).
            assert len(data) <= 20
            assert sess.dropped_in >= 311 - 20 - 3
            # Other sessions from the same address share the address's bucket (50).
            before = relay.dropped_in
            for n in range(4):
                other = PublishedSession.new(f"S-RATE-{n}")
                pub = await publish(http, relay, other)
                for _ in range(20):
                    await pub.send_str(frame)
                await pub.close()
            await eventually(lambda: relay.dropped_in > before)
            reader.cancel()

    run(main())


@pytest.mark.parametrize(
    "bad",
    [
        '{"k": [1]}',
        "not json",
        "[1, 2]",
        '{"k": "d", "dev": "grip", "t": [NaN], "tr": {"force": [1]}}',
        '{"k": "d", "dev": "grip", "t": [1, 2], "tr": {"force": [1]}}',
        '{"k": "d", "dev": "grip", "t": [1], "tr": {"force": ["1"]}}',
        '{"k": "d", "dev": "grip", "t": [true], "tr": {"force": [1]}}',
        '{"k": "d", "ds": {"dev": "grip", "t": [1], "tr": {"force": [1]}}}',
        '{"k": "d", "ds": []}',
        '{"k": "d", "ds": [1]}',
        '{"k": "d", "ds": [{"dev": "pen", "t": [1], "tr": {"force": [1]}}]}',
        '{"k": "d", "ds": [{"dev": "grip", "t": [1, 2], "tr": {"force": [1]}}]}',
        json.dumps({"k": "d", "ds": [{"dev": "grip", "t": [], "tr": {}}] * 2}),  # a device twice
        '{"k": "m", "dev": "grip", "tiles": [1]}',
        '{"k": "d", "dev": "grip", "t": [1], "tr": {"force": [1]}, "m": [1]}',
        '{"k": "d", "dev": "grip", "t": [1], "tr": {"force": [1]}, "m": {"peak": 1}}',
        json.dumps(  # tiles too large to keep for a joining viewer
            {
                "k": "d",
                "dev": "grip",
                "t": [1],
                "tr": {"force": [1]},
                "m": {"n": {"x": "y" * 20000}},
            }
        ),
        '{"k": "s", "dev": "grip", "link": 3}',
        '{"k": "hello", "student": "S-1", "devs": "grip"}',
        '{"k": "hello", "student": "S 1", "devs": ["grip"]}',
        '{"k": "ack", "id": "1", "text": "x"}',
        '{"k": "mark", "text": "x"}',
        "[" * 100000 + "]" * 100000,
    ],
)
def test_a_malformed_publisher_frame_closes_that_socket_with_one_log_line(
    bad: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        limits = RelayLimits(max_msg_bytes=512 * 1024)
        async with Relay(limits=limits) as relay, aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-BAD")
            pub = await publish(http, relay, s)
            v = await view(http, relay, s)
            await pub.send_str(bad)
            msg = await to_publisher(pub)
            assert msg.type == aiohttp.WSMsgType.CLOSE
            assert pub.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
            # The viewer saw nothing of it, and the session goes on with a new connection.
            pub = await publish(http, relay, s)
            good = {"k": "d", "dev": "grip", "t": [5.0], "tr": {"force": [6.0]}}
            await pub.send_str(json.dumps(good))
            async for m in v:
                f = json.loads(m.data)
                assert f.get("k") in {"pub", "hello", "d"}, f
                if f["k"] == "d":
                    assert f["t"] == [5.0]
                    break

    with caplog.at_level(logging.DEBUG):
        run(main())
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "closing its connection" in lines[0].getMessage()
    assert lines[0].exc_info is None and "Traceback" not in caplog.text


def test_no_token_or_url_in_any_log_line_and_no_version_in_server_header(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = PublishedSession.new("S-LOG")

    async def raw(relay: Relay, request: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(relay.host, relay.port)
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), 5.0)
        writer.close()
        return answer

    async def main() -> None:
        async with Relay() as relay, aiohttp.ClientSession() as http:
            pub = await publish(http, relay, s)
            path = f"/view/{s.session_id}?t={s.viewer_token}"
            bad_lines = [
                f"GET {path} HTTP/1.1 junk\r\nHost: x\r\n\r\n".encode(),
                f"GET {path}\x00 HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
                f"G\x01T {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
                f"GET {path} HTTP/1.1\r\nHost: x\r\nBad Header: {s.viewer_token}\r\n\r\n".encode(),
                f"GET {path} HTTP/1.1\r\nAuthorization: Bearer {s.publisher_token}\r\n"
                f"Content-Length: x\r\n\r\n".encode(),
            ]
            for line in bad_lines:
                answer = await raw(relay, line)
                assert answer.split(b" ")[1] == b"400", answer[:80]
                head = answer.split(b"\r\n\r\n")[0].decode().lower()
                assert "server: finemotor" in head and "aiohttp" not in head
            async with http.get(relay.url + path) as r:
                assert r.status == 200 and r.headers["Server"] == "finemotor"
            async with http.get(relay.url + "/view/0000000000000000?t=x") as r:
                assert r.status == 404 and r.headers["Server"] == "finemotor"
            await pub.close()

    with caplog.at_level(logging.DEBUG):
        run(main())
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert "400" in text or "Bad" in text or "Error handling request" in text
    for secret in (s.viewer_token, s.publisher_token, f"?t={s.viewer_token[:8]}"):
        assert secret not in text
    assert "Traceback" not in text
    assert all(r.exc_info is None for r in caplog.records if r.name.startswith("aiohttp"))


def test_admission_tells_the_truth_and_unpublished_sessions_do_not_hold_slots() -> None:
    async def main() -> None:
        limits = RelayLimits(
            max_sessions=3,
            unpublished_s=0.6,
            registrations_per_min=0.5,
            registration_burst=4.0,
            retry_after_s=1,
        )
        async with Relay(limits=limits) as relay, aiohttp.ClientSession() as http:
            url = f"{ws_base(relay)}/ws/publish/"

            async def register() -> aiohttp.ClientWebSocketResponse:
                s = PublishedSession.new("S-JUNK")
                return await http.ws_connect(url + s.session_id, headers=pub_headers(s))

            # A client registers three sessions and leaves without publishing: the relay is
            # full, and the fourth publisher is told so (503, Retry-After), not "not valid".
            for _ in range(3):
                await (await register()).close()
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await register()
            assert err.value.status == 503
            assert err.value.headers is not None and err.value.headers["Retry-After"] == "1"
            # The forwarder of a real session says "the relay is full".
            real = PublishedSession.new("S-REAL")
            fwd = Forwarder(relay.url, real, devices=["grip"])
            await fwd.start()
            await eventually(lambda: fwd.problem is not None)
            assert fwd.problem is not None and "relay is full" in fwd.problem
            assert "not valid" not in fwd.problem
            # Sessions that never published are forgotten soon; the real one gets in.
            await eventually(lambda: real.session_id in relay.sessions and fwd.connected, 10.0)
            assert fwd.problem is None
            # Registration is limited per address: the burst (4) is spent.
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await register()
            assert err.value.status == 429
            await fwd.close()

    run(main())


def test_a_published_session_outlives_a_dropped_publisher_and_an_idle_one_is_forgotten() -> None:
    async def main() -> None:
        limits = RelayLimits(unpublished_s=0.3, idle_s=2.0)
        async with Relay(limits=limits) as relay, aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-IDLE")
            pub = await publish(http, relay, s)
            await pub.send_str(
                json.dumps({"k": "d", "dev": "grip", "t": [1.0], "tr": {"force": [1.0]}})
            )
            await pub.close()
            await asyncio.sleep(1.0)
            assert s.session_id in relay.sessions  # published: kept past unpublished_s
            await eventually(lambda: s.session_id not in relay.sessions, 5.0)

    run(main())


def test_a_reconnecting_page_takes_back_its_place_and_others_hear_too_many_viewers() -> None:
    async def main() -> None:
        limits = RelayLimits(max_viewers=3)
        async with Relay(limits=limits) as relay, aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-VIEW")
            pub = await publish(http, relay, s)
            therapist = await view(http, relay, s, instance="therapist-page-1")
            junk = [await view(http, relay, s) for _ in range(2)]
            sess = relay.sessions[s.session_id]
            await eventually(lambda: len(sess.viewers) == 3)
            # One more junk viewer: refused with "too many viewers" (1013), as the page shows.
            extra = await view(http, relay, s)
            await frames_until_close(extra)
            assert extra.close_code == TRY_AGAIN_LATER
            # The therapist's connection drops; junk tries to take the place and cannot.
            await therapist.close()
            await eventually(lambda: len(sess.viewers) == 2)
            extra = await view(http, relay, s)
            await frames_until_close(extra)
            assert extra.close_code == TRY_AGAIN_LATER
            # The page reconnects with its instance id and is in.
            again = await view(http, relay, s, instance="therapist-page-1")
            first = json.loads((await again.receive()).data)
            assert first == {"k": "pub", "up": True}
            assert len(sess.viewers) == 3
            # The same page connecting twice replaces its old socket rather than taking two.
            twice = await view(http, relay, s, instance="therapist-page-1")
            await frames_until_close(again)
            assert len(sess.viewers) == 3
            for ws in [twice, pub, *junk]:
                await ws.close()

    run(main())


def test_marks_are_limited_per_session_cut_to_length_and_expiry_caps_at_the_maximum() -> None:
    async def main() -> None:
        limits = RelayLimits(marks_per_s=0.01, mark_burst=3.0, mark_chars=10, max_ttl_s=60.0)
        async with Relay(limits=limits) as relay, aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-MARK", ttl_s=3600.0)
            pub = await publish(http, relay, s)
            sess = relay.sessions[s.session_id]
            assert sess.expires_at <= time.time() + 60.0  # capped, whatever was asked
            a, b = await view(http, relay, s), await view(http, relay, s)
            results: list[str] = []
            for n, v in enumerate([a, b, a, b, a]):
                await v.send_str(json.dumps({"k": "mark", "text": "x" * 50, "cid": n}))
                while True:
                    f = json.loads((await v.receive()).data)
                    if f["k"] in {"marksent", "markerr"}:
                        results.append(f["k"])
                        break
            # Two viewers share the session's bucket of three.
            assert results == ["marksent"] * 3 + ["markerr"] * 2
            got = []
            while len(got) < 3:
                f = json.loads((await to_publisher(pub)).data)
                got.append(f["text"])
            assert got == ["x" * 10] * 3
            for ws in (a, b, pub):
                await ws.close()

    run(main())


def test_messages_over_the_size_limits_close_their_sockets() -> None:
    async def main() -> None:
        limits = RelayLimits(max_msg_bytes=4096, max_viewer_msg_bytes=256)
        async with Relay(limits=limits) as relay, aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-SIZE")
            pub = await publish(http, relay, s)
            v = await view(http, relay, s)
            big = {"k": "d", "dev": "grip", "t": [1.0], "tr": {"force": [1.0]}, "pad": "x" * 5000}
            await pub.send_str(json.dumps(big))
            assert (await to_publisher(pub)).type == aiohttp.WSMsgType.CLOSE
            assert pub.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
            await v.send_str(json.dumps({"k": "mark", "text": "x" * 300, "cid": 1}))
            await frames_until_close(v)
            assert v.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG

    run(main())


def test_a_trusted_balancers_forwarded_address_counts_and_anyone_elses_is_ignored() -> None:
    limits = RelayLimits(registrations_per_min=1.0, registration_burst=1.0)

    async def register(http: aiohttp.ClientSession, relay: Relay, client: str) -> int:
        s = PublishedSession.new("S-1")
        headers = {**pub_headers(s), "X-Forwarded-For": f"203.0.113.9, {client}"}
        url = f"{relay.url.replace('http', 'ws')}/ws/publish/{s.session_id}"
        try:
            ws = await http.ws_connect(url, headers=headers)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        await ws.close()
        return 101

    async def go() -> None:
        async with aiohttp.ClientSession() as http:
            # behind a trusted balancer: each desk's own address has its own bucket
            async with Relay(limits=limits, trusted_proxies=frozenset({"127.0.0.1"})) as relay:
                assert await register(http, relay, "10.0.0.1") == 101
                assert await register(http, relay, "10.0.0.1") == 429
                assert await register(http, relay, "10.0.0.2") == 101
            # not trusted: the header is the client's word, and counts for nothing
            async with Relay(limits=limits) as relay:
                assert await register(http, relay, "10.0.0.1") == 101
                assert await register(http, relay, "10.0.0.2") == 429

    run(go())


def test_a_viewer_that_stops_reading_is_cut_after_the_send_timeout() -> None:
    limits = RelayLimits(publisher_rate=1e6, publisher_burst=1e6, send_timeout_s=1.0)

    async def go() -> None:
        async with Relay(limits=limits) as relay, aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-1")
            pub = await publish(http, relay, s)
            sock = await raw_viewer_that_never_reads(relay, s)
            reader = await view(http, relay, s)
            reading = asyncio.create_task(frames_until_close(reader))
            sess = relay.sessions[s.session_id]
            await eventually(lambda: len(sess.viewers) == 2)
            big = json.dumps(
                {"k": "d", "dev": "grip", "t": [0.0], "tr": {"force": [1.0]}, "pad": "x" * 60000}
            )
            started = time.monotonic()
            while len(sess.viewers) == 2 and time.monotonic() - started < 10.0:
                await pub.send_str(big)
                await asyncio.sleep(0.01)
            assert len(sess.viewers) == 1  # the stuck one is gone; the reading one stays
            assert time.monotonic() - started < 1.0 + 0.5 + 2.0  # timeout, reaper, margin
            assert not reader.closed
            sock.close()
            await pub.close()
            await reader.close()
            await reading

    run(go())
