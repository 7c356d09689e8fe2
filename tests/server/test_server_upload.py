"""Desk uploads on both databases: every chunk idempotent, bad chunks refused with a reason,
the caseload and revocation enforced, a mismatch healed, nothing lost when the server is away."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from bench.private_pg import start_private_postgres
from server_helpers import SCHOOL, Db, World, record, world
from sqlalchemy import text
from tests.host.aiotest import run

from finemotor.errors import SyncError
from finemotor.recording import Recording
from finemotor.server.app import Server
from finemotor.server.database import database_url
from finemotor.server.records import Records
from finemotor.sync.credential import DeskCredential
from finemotor.sync.uploader import Uploader, upload_states
from finemotor.sync.wire import Block


def _blocks(db_path: Path, session: int) -> list[Block]:
    with Recording(db_path) as rec:
        rows = rec.query(
            "SELECT b.seq0, b.n, b.t, b.counts FROM blocks b JOIN devices d ON b.device_id = d.id"
            " WHERE d.session_id = ? ORDER BY b.id",
            (session,),
        )
    return [Block(*r) for r in rows]


async def _call(
    w: World, method: str, path: str, body: Any, cred: DeskCredential | None = None
) -> tuple[int, dict[str, Any]]:
    headers = (cred or w.desk).headers()
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, w.base + path, json=body, headers=headers) as r,
    ):
        return r.status, await r.json()


DESCRIPTION = {
    "student": "S-1",
    "started_at": 1_700_000_000.0,
    "ended_at": 1_700_000_010.0,
    "devices": [{"name": "grip", "kind": "grip", "channels": ["force"], "rate_hz": 100.0}],
}


def test_chunks_are_idempotent_and_order_free(db: Db, tmp_path: Path) -> None:
    async def go() -> None:
        w = await world(db.url)
        try:
            desk_db = tmp_path / "desk.sqlite"
            n = record(desk_db)
            blocks = [b.to_json() for b in _blocks(desk_db, n)]
            assert (await _call(w, "PUT", "/api/desk/sessions/7", DESCRIPTION))[0] == 200
            path = "/api/desk/sessions/7/blocks"
            late, early = blocks[25:], blocks[:25]
            status, got = await _call(w, "POST", path, {"device": "grip", "blocks": late})
            assert status == 200 and got == {"stored": 25, "duplicates": 0}
            status, got = await _call(w, "POST", path, {"device": "grip", "blocks": early})
            assert got == {"stored": 25, "duplicates": 0}
            status, got = await _call(w, "POST", path, {"device": "grip", "blocks": blocks[20:30]})
            assert got == {"stored": 0, "duplicates": 10}
            status, state = await _call(w, "PUT", "/api/desk/sessions/7", DESCRIPTION)
            assert state["devices"]["grip"] == {"samples": 1000, "blocks": 50}
        finally:
            await w.server.stop()

    run(go())


def test_bad_chunks_are_refused_with_a_reason(db: Db, tmp_path: Path) -> None:
    async def go() -> None:
        w = await world(db.url)
        try:
            desk_db = tmp_path / "desk.sqlite"
            n = record(desk_db)
            good = _blocks(desk_db, n)[0]
            await _call(w, "PUT", "/api/desk/sessions/7", DESCRIPTION)
            path = "/api/desk/sessions/7/blocks"
            truncated = good.to_json() | {"counts": base64.b64encode(good.counts[:-4]).decode()}
            altered_counts = bytearray(good.counts)
            altered_counts[0] ^= 1
            altered = good.to_json() | {"counts": base64.b64encode(altered_counts).decode()}
            other = Block(good.seq0, good.n, good.t, bytes(altered_counts))
            cases = {
                "truncated": (truncated, 400),
                "altered on the way": (altered, 400),
                "must be base64": (good.to_json() | {"t": "***"}, 400),
                "non-negative": (good.to_json() | {"seq0": -1}, 400),
            }
            for words, (block, status) in cases.items():
                got = await _call(w, "POST", path, {"device": "grip", "blocks": [block]})
                assert got[0] == status and words in got[1]["error"], (words, got)
            assert (await _call(w, "POST", path, {"device": "grip", "blocks": [good.to_json()]}))[
                0
            ] == 200
            status, got = await _call(
                w, "POST", path, {"device": "grip", "blocks": [other.to_json()]}
            )
            assert status == 409 and "differs" in got["error"]
            status, got = await _call(
                w, "POST", path, {"device": "pen", "blocks": [good.to_json()]}
            )
            assert status == 400 and "no device" in got["error"]
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    w.base + path,
                    data=b"{not json",
                    headers=w.desk.headers() | {"Content-Type": "application/json"},
                ) as r,
            ):
                assert r.status == 400 and "not valid JSON" in (await r.json())["error"]
            status, state = await _call(w, "PUT", "/api/desk/sessions/7", DESCRIPTION)
            assert state["devices"]["grip"] == {"samples": good.n, "blocks": 1}
        finally:
            await w.server.stop()

    run(go())


def test_caseload_and_credentials_are_enforced(db: Db, tmp_path: Path) -> None:
    async def go() -> None:
        w = await world(db.url)
        try:
            other_school = dict(DESCRIPTION, student="S-2")
            status, got = await _call(w, "PUT", "/api/desk/sessions/1", other_school)
            assert status == 403 and got["reason"] == "not_on_caseload"
            forged = DeskCredential(w.base, 99, SCHOOL, "x" * 43, 0.0)
            status, got = await _call(w, "PUT", "/api/desk/sessions/1", DESCRIPTION, forged)
            assert status == 401 and "enrol" in got["error"]
            # a session for a student at another school stays on the desk, marked
            desk_db = tmp_path / "desk.sqlite"
            n = record(desk_db, student="S-2")
            states = await Uploader(w.desk, desk_db).sync()
            assert [s.state for s in states] == ["not_on_caseload"]
            assert upload_states(desk_db)[n].state == "not_on_caseload"
            store = w.server.store
            assert store is not None
            await store.revoke_desk(w.desk.desk_id)
            status, got = await _call(w, "PUT", "/api/desk/sessions/1", DESCRIPTION)
            assert status == 403 and got["reason"] == "revoked"
            record(desk_db)
            with pytest.raises(SyncError) as err:
                await Uploader(w.desk, desk_db).sync()
            assert err.value.reason == "revoked" and "new enrolment code" in str(err.value)
        finally:
            await w.server.stop()

    run(go())


def test_a_copy_that_differs_is_sent_again(db: Db, tmp_path: Path) -> None:
    async def go() -> None:
        w = await world(db.url)
        try:
            desk_db = tmp_path / "desk.sqlite"
            n = record(desk_db)
            up = Uploader(w.desk, desk_db)
            assert (await up.upload(n, final=False)).state == "uploading"
            store = w.server.store
            assert store is not None
            async with store.engine.begin() as c:  # lose two blocks on the server
                await c.execute(text("DELETE FROM blocks WHERE seq0 IN (100, 500)"))
            said: list[str] = []
            up.progress = said.append
            assert (await up.upload(n)).state == "complete"
            assert any("sending it again" in m for m in said)
            async with store.engine.connect() as c:
                staged = (await c.execute(text("SELECT count(*) FROM blocks"))).scalar_one()
                samples = (await c.execute(text("SELECT sum(n) FROM segments"))).scalar_one()
            assert (staged, samples) == (0, 1000)  # complete: compacted into segments
            ours = await Records(store).load_samples(1, "grip")
            with Recording(desk_db) as rec:
                theirs = rec.load_samples(n, "grip")
            np.testing.assert_array_equal(ours.seq, theirs.seq)
            assert ours.t.tobytes() == theirs.t.tobytes()
            np.testing.assert_array_equal(ours.counts, theirs.counts)
            # the desk sends again (it lost the answer): the same blocks are duplicates, others
            # are refused, and the completion still holds
            some = [b.to_json() for b in _blocks(desk_db, n)[:5]]
            path = f"/api/desk/sessions/{n}/blocks"
            status, got = await _call(w, "POST", path, {"device": "grip", "blocks": some})
            assert status == 200 and got == {"stored": 0, "duplicates": 5}
            odd = Block(10**6, 1, b"\0" * 8, b"\0" * 4).to_json()
            status, got = await _call(w, "POST", path, {"device": "grip", "blocks": [odd]})
            assert status == 409 and "complete" in got["error"]
            summary = up._summary(Recording(desk_db), n)
            status, got = await _call(w, "POST", f"/api/desk/sessions/{n}/complete", summary)
            assert status == 200 and got["state"] == "complete"
        finally:
            await w.server.stop()

    run(go())


def test_nothing_is_lost_while_the_server_is_away(db: Db, tmp_path: Path) -> None:
    async def go() -> None:
        w = await world(db.url, port=0)
        desk_db = tmp_path / "desk.sqlite"
        n = record(desk_db)
        port = w.server.port
        await w.server.stop()
        up = Uploader(w.desk, desk_db, deadline_s=1.0)
        with pytest.raises(SyncError) as err:
            await up.sync()
        assert err.value.reason == "unreachable" and "stays here" in str(err.value)
        assert upload_states(desk_db)[n].state != "complete"
        with sqlite3.connect(desk_db) as c:
            assert c.execute("SELECT sum(n) FROM blocks").fetchone()[0] == 1000
        again = Server(db.url, port=port)
        await again.start()
        try:
            (state,) = await Uploader(w.desk, desk_db).sync()
            assert state.state == "complete"
        finally:
            await again.stop()

    run(go())


def test_a_database_that_goes_down_gets_a_clear_answer_and_loses_nothing(tmp_path: Path) -> None:
    pg = start_private_postgres()
    try:

        async def go() -> None:
            w = await world(database_url(None, pg.create_database("down")))
            try:
                desk_db = tmp_path / "desk.sqlite"
                record(desk_db)
                pg._run(str(pg.bin / "pg_ctl"), "-D", str(pg.folder / "data"), "-m", "fast", "stop")
                async with (
                    aiohttp.ClientSession() as http,
                    http.post(
                        f"{w.base}/api/login", json={"email": "a@b.example", "password": "x" * 12}
                    ) as r,
                ):
                    assert r.status == 503 and r.headers["Retry-After"] == "30"
                    body = json.dumps(await r.json())
                assert "try again in a minute" in body and "postgresql" not in body
                with pytest.raises(SyncError) as err:
                    await Uploader(w.desk, desk_db, deadline_s=1.5).sync()
                assert err.value.reason == "busy"
                pg.start_again()
                (state,) = await Uploader(w.desk, desk_db, deadline_s=30.0).sync()
                assert state.state == "complete"
            finally:
                await w.server.stop()

        run(go(), seconds=90)
    finally:
        pg.stop()
