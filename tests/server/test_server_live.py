"""Live sessions on the server: only enrolled desks publish, the therapist whose caseload holds
the student watches without a token, the guest's token link still works, and revoking the
desk ends its live session at once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from server_helpers import OTHER, THERAPIST, Db, browser, sign_in, world
from tests.host.aiotest import run

from finemotor.relay import PublishedSession
from finemotor.relay.tokens import DESK_HEADER


async def _publish(
    http: aiohttp.ClientSession, base: str, s: PublishedSession, desk: str | None
) -> aiohttp.ClientWebSocketResponse:
    headers = s.publisher_headers()
    if desk is not None:
        headers[DESK_HEADER] = desk
    ws = await http.ws_connect(
        f"{base.replace('http', 'ws')}/ws/publish/{s.session_id}", headers=headers
    )
    await ws.send_str(json.dumps({"k": "hello", "student": s.student, "devs": ["grip"]}))
    return ws


async def _next(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            frame = json.loads(msg.data)
            if frame.get("k") == kind:
                return frame  # type: ignore[no-any-return]


def test_the_caseload_watches_live_and_a_revoked_desk_is_cut_off(db: Db) -> None:
    async def go() -> None:
        w = await world(db.url)
        try:
            async with aiohttp.ClientSession() as http, browser() as ot, browser() as other:
                s = PublishedSession.new("S-1")
                ws_url = f"{w.base.replace('http', 'ws')}/ws/publish/{s.session_id}"
                for desk in (None, "not-a-credential-at-all-0000000000000000000"):
                    headers = s.publisher_headers()
                    if desk:
                        headers[DESK_HEADER] = desk
                    try:
                        await http.ws_connect(ws_url, headers=headers)
                        raise AssertionError("published without an enrolled desk")
                    except aiohttp.WSServerHandshakeError as exc:
                        assert exc.status == 403
                away = PublishedSession.new("S-2")  # a student at another school
                try:
                    await _publish(http, w.base, away, w.desk.credential)
                    raise AssertionError("published for another school's student")
                except aiohttp.WSServerHandshakeError as exc:
                    assert exc.status == 403
                pub = await _publish(http, w.base, s, w.desk.credential)
                await sign_in(ot, w.base, THERAPIST)
                await sign_in(other, w.base, OTHER)

                async def live() -> Any:
                    async with ot.get(f"{w.base}/api/students") as r:
                        return (await r.json())[0]["live"]

                watch: dict[str, str] = {}

                async def found() -> bool:
                    watch.update(await live() or {})
                    return bool(watch)

                async with asyncio.timeout(10):
                    while not await found():
                        await asyncio.sleep(0.05)
                assert watch["watch"] == f"/view/{s.session_id}"  # no token in it
                async with ot.get(f"{w.base}/api/live") as r:  # what the caseload page polls
                    assert await r.json() == [{"id": "S-1", "watch": watch["watch"]}]
                async with other.get(f"{w.base}/api/live") as r:  # not on her caseload
                    assert await r.json() == []
                async with ot.get(w.base + watch["watch"]) as r:
                    assert r.status == 200 and "text/html" in r.headers["Content-Type"]
                async with other.get(w.base + watch["watch"]) as r:
                    assert r.status == 404  # not her student: as if there were no session
                view = f"{w.base.replace('http', 'ws')}/ws/view/{s.session_id}?t=null&i=" + "a" * 32
                viewer = await ot.ws_connect(view)
                try:
                    await other.ws_connect(view)
                    raise AssertionError("another therapist watched")
                except aiohttp.WSServerHandshakeError as exc:
                    assert exc.status == 404
                guest = await http.ws_connect(
                    f"{w.base.replace('http', 'ws')}/ws/view/{s.session_id}?t={s.viewer_token}"
                )
                frame = {"k": "d", "dev": "grip", "t": [0.0], "tr": {"force": [1.5]}}
                await pub.send_str(json.dumps(frame))
                assert (await _next(viewer, "d"))["tr"] == {"force": [1.5]}
                assert (await _next(guest, "d"))["tr"] == {"force": [1.5]}
                store = w.server.store
                assert store is not None
                await store.revoke_desk(w.desk.desk_id)
                end = await _next(viewer, "end")
                assert "revoked" in end["why"]
                async with asyncio.timeout(10):  # the desk's own socket is closed too
                    while (await pub.receive()).type not in (
                        aiohttp.WSMsgType.CLOSE,
                        aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.CLOSING,
                    ):
                        pass
                assert w.server.relay is not None and w.server.relay.live() == []
                try:
                    await _publish(http, w.base, s, w.desk.credential)
                    raise AssertionError("a revoked desk published again")
                except aiohttp.WSServerHandshakeError as exc:
                    assert exc.status == 403
                actions = [(e.actor, e.action) for e in await store.audit("S-1")]
                assert (THERAPIST, "watch_live") in actions
        finally:
            await w.server.stop()

    run(go(), seconds=60)
