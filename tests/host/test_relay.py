"""The relay: tokens, refusals (404 for a viewer, 403 for a publisher), what a viewer may
send, slow viewers, expiry, limits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiotest import eventually, run
from relay_helpers import pub_headers, publish

from finemotor.errors import FinemotorError
from finemotor.forwarder import Forwarder
from finemotor.relay import PublishedSession, Relay, RelayLimits
from finemotor.relay.tokens import digest, matches


def test_tokens_are_long_random_and_compared_by_digest() -> None:
    s = PublishedSession.new("S-0142")
    assert len(s.viewer_token) >= 22 and s.viewer_token != s.publisher_token
    assert matches(s.viewer_token, digest(s.viewer_token))
    assert not matches(s.publisher_token, digest(s.viewer_token))
    assert not matches(None, digest(s.viewer_token))
    assert "S-0142" not in s.view_path()
    with pytest.raises(FinemotorError, match="pseudonymous"):
        PublishedSession.new("Jane Doe")


def test_wrong_tokens_get_404_and_a_viewer_cannot_publish() -> None:
    async def main() -> None:
        async with Relay() as relay, aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-0142")
            base = relay.url
            async with http.ws_connect(
                f"{base.replace('http', 'ws')}/ws/publish/{s.session_id}", headers=pub_headers(s)
            ) as pub:
                hello = {"k": "hello", "student": s.student, "devs": ["grip"]}
                await pub.send_str(json.dumps(hello))
                async with http.get(f"{base}{s.view_path()}") as r:
                    assert r.status == 200
                    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
                for path in (
                    f"/view/{s.session_id}?t={s.publisher_token}",
                    f"/view/{s.session_id}",
                    f"/view/0000000000000000?t={s.viewer_token}",
                ):
                    async with http.get(base + path) as r:
                        assert r.status == 404  # as for a session that never was
                        assert s.student not in await r.text()
                # The viewer token does not publish; another publisher token does not either.
                ws_pub = f"{base.replace('http', 'ws')}/ws/publish/{s.session_id}"
                for token in (s.viewer_token, PublishedSession.new("S-1").publisher_token):
                    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                        await http.ws_connect(ws_pub, headers=pub_headers(s, token))
                    assert err.value.status == 403
                ws_view = f"{base.replace('http', 'ws')}/ws/view/{s.session_id}"
                with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                    await http.ws_connect(ws_view + "?t=" + s.publisher_token)
                assert err.value.status == 404
                async with http.ws_connect(ws_view + "?t=" + s.viewer_token) as view:
                    first = json.loads((await view.receive()).data)
                    assert first == {"k": "pub", "up": True}
                    await view.send_str(json.dumps({"k": "d", "dev": "grip", "t": [1], "tr": {}}))
                    msg = await view.receive()
                    while msg.type == aiohttp.WSMsgType.TEXT:
                        msg = await view.receive()
                    assert view.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION

    run(main())


def test_a_slow_viewer_drops_its_own_frames_and_never_slows_the_others() -> None:
    async def main() -> None:
        limits = RelayLimits(viewer_queue=8, publisher_rate=1e6, publisher_burst=1e6)
        async with Relay(limits=limits) as relay, aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-7")
            ws = relay.url.replace("http", "ws")
            pub = await publish(http, relay, s)
            fast = await http.ws_connect(f"{ws}/ws/view/{s.session_id}?t={s.viewer_token}")
            slow = await http.ws_connect(f"{ws}/ws/view/{s.session_id}?t={s.viewer_token}")
            sess = relay.sessions[s.session_id]
            await eventually(lambda: len(sess.viewers) == 2)
            got: list[int] = []

            async def read_fast() -> None:
                async for m in fast:
                    f = json.loads(m.data)
                    if f.get("k") == "d":
                        got.append(f["n"])
                        if f["n"] == 299:
                            return

            reader = asyncio.create_task(read_fast())
            # The slow viewer never reads: its socket buffers fill, then its queue overflows.
            big = "x" * 20000
            for n in range(300):
                frame = {
                    "k": "d",
                    "dev": "grip",
                    "t": [n],
                    "tr": {"force": [1.0]},
                    "n": n,
                    "pad": big,
                }
                await pub.send_str(json.dumps(frame))
                await asyncio.sleep(0.003)  # a publisher's pace, which a healthy viewer keeps
            await asyncio.wait_for(reader, 10)
            assert got == list(range(300))  # the fast viewer lost nothing
            dropped = [v.dropped for v in sess.viewers.values()]
            assert max(dropped) > 0 and min(dropped) == 0
            await slow.close()
            await fast.close()
            await pub.close()

    run(main())


def test_an_expired_session_is_refused() -> None:
    async def main() -> None:
        async with Relay() as relay, aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-9", ttl_s=1.5)
            ws = relay.url.replace("http", "ws")
            pub = await http.ws_connect(f"{ws}/ws/publish/{s.session_id}", headers=pub_headers(s))
            async with http.get(relay.url + s.view_path()) as r:
                assert r.status == 200
            await eventually(lambda: s.session_id not in relay.sessions, 6.0)
            async with http.get(relay.url + s.view_path()) as r:
                assert r.status == 404
            await pub.close()

    run(main())


def test_the_forwarder_republishes_after_a_relay_restart_and_delivers_marks() -> None:
    async def main() -> None:
        relay = Relay()
        await relay.start()
        marks: list[dict[str, Any]] = []
        s = PublishedSession.new("S-3")

        def on_mark(m: dict[str, Any]) -> dict[str, Any]:
            marks.append(m)
            return {"recorded": True}

        fwd = Forwarder(relay.url, s, on_mark=on_mark)
        await fwd.start()
        await eventually(lambda: fwd.connected)
        await relay.stop()
        await eventually(lambda: not fwd.connected)
        relay = Relay(port=relay.port)
        await relay.start()
        await eventually(lambda: fwd.connected and s.session_id in relay.sessions, 10)
        async with aiohttp.ClientSession() as http:
            ws = relay.url.replace("http", "ws")
            async with http.ws_connect(f"{ws}/ws/view/{s.session_id}?t={s.viewer_token}") as v:
                await v.send_str(json.dumps({"k": "mark", "text": "right hand, trial 2", "cid": 1}))
                kinds = []
                async for m in v:
                    f = json.loads(m.data)
                    kinds.append(f["k"])
                    if f["k"] == "ack":
                        assert f["text"] == "right hand, trial 2" and f["recorded"]
                        break
                assert "hello" in kinds and "marksent" in kinds
        assert [m["text"] for m in marks] == ["right hand, trial 2"]
        await fwd.close()
        await relay.stop()

    run(main())


def test_the_publisher_hears_how_many_viewers_watch() -> None:
    async def main() -> None:
        async with Relay() as relay, aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-4")
            fwd = Forwarder(relay.url, s)
            await fwd.start()
            await eventually(lambda: fwd.connected)
            ws = relay.url.replace("http", "ws")
            view = f"{ws}/ws/view/{s.session_id}?t={s.viewer_token}"
            assert fwd.watching == 0
            first = await http.ws_connect(view)
            await eventually(lambda: fwd.watching == 1)
            second = await http.ws_connect(view)
            await eventually(lambda: fwd.watching == 2)
            await first.close()
            await eventually(lambda: fwd.watching == 1)
            await second.close()
            await eventually(lambda: fwd.watching == 0)
            # a publisher that connects while a viewer is there hears it at once
            third = await http.ws_connect(view)
            await fwd.close()
            again = Forwarder(relay.url, s)
            await again.start()
            await eventually(lambda: again.watching == 1)
            await third.close()
            await again.close()

    run(main())
