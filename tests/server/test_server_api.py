"""The JSON API on both databases: sign-in, CSRF, caseload walls, sessions, goals, audit,
export and deletion, retention."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import pytest
from server_helpers import (
    ADMIN,
    OTHER,
    PASSWORD,
    THERAPIST,
    Db,
    World,
    browser,
    record,
    sign_in,
    world,
)
from sqlalchemy import text
from tests.host.aiotest import run

from finemotor.server.app import apply_retention
from finemotor.server.records import Records
from finemotor.sync.uploader import Uploader


async def _uploaded(w: World, db_path: Path, **kw: object) -> int:
    n = record(db_path, **kw)  # type: ignore[arg-type]
    (state,) = await Uploader(w.desk, db_path).sync()
    assert state.state == "complete", state
    return n


def test_sign_in_cookie_csrf_and_sign_out(db: Db) -> None:
    async def go() -> None:
        w = await world(db.url)
        try:
            async with browser() as http:
                async with http.get(f"{w.base}/api/students") as r:
                    assert r.status == 401
                    assert "sign in" in (await r.json())["error"]
                async with http.post(
                    f"{w.base}/api/login", json={"email": THERAPIST, "password": PASSWORD}
                ) as r:
                    assert r.status == 200
                    cookie = r.headers["Set-Cookie"]
                    csrf = (await r.json())["csrf"]
                assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
                assert "Secure" not in cookie  # no TLS in this test
                async with http.get(f"{w.base}/api/students") as r:
                    assert r.status == 200
                    assert [s["id"] for s in await r.json()] == ["S-1"]
                goal = {"metric": "pen_cv", "target": 12}
                async with http.post(f"{w.base}/api/students/S-1/goals", json=goal) as r:
                    assert r.status == 403 and (await r.json())["reason"] == "csrf"
                hdr = {"X-CSRF-Token": csrf}
                async with http.post(
                    f"{w.base}/api/students/S-1/goals",
                    json=goal,
                    headers={**hdr, "Origin": "https://evil.example"},
                ) as r:
                    assert r.status == 403 and (await r.json())["reason"] == "cross_origin"
                async with http.post(
                    f"{w.base}/api/students/S-1/goals", json=goal, headers=hdr
                ) as r:
                    assert r.status == 201
                    assert (await r.json())["target"] == 12.0
                async with http.post(f"{w.base}/api/logout", headers=hdr) as r:
                    assert r.status == 204
                async with http.get(f"{w.base}/api/students") as r:
                    assert r.status == 401
        finally:
            await w.server.stop()

    run(go())


def test_wrong_passwords_get_one_generic_answer_then_a_wait(db: Db) -> None:
    async def go() -> None:
        w = await world(db.url)
        try:
            async with browser() as http:
                answers = []
                for email in (THERAPIST, "nobody@district.example"):
                    async with http.post(
                        f"{w.base}/api/login", json={"email": email, "password": "wrong one!!"}
                    ) as r:
                        answers.append((r.status, (await r.json())["error"]))
                assert answers[0] == answers[1] == (401, "the e-mail or password is not right")
                for _ in range(4):
                    async with http.post(
                        f"{w.base}/api/login", json={"email": THERAPIST, "password": "nope nope!"}
                    ) as r:
                        assert r.status == 401
                async with http.post(
                    f"{w.base}/api/login", json={"email": THERAPIST, "password": PASSWORD}
                ) as r:
                    assert r.status == 429  # even the right password waits now
                    assert "wait" in (await r.json())["error"]
                    assert r.headers["Retry-After"]
                async with http.post(
                    f"{w.base}/api/login", json={"email": OTHER, "password": PASSWORD}
                ) as r:
                    assert r.status == 200  # another account is not locked out
        finally:
            await w.server.stop()

    run(go())


def test_password_change_ends_other_sign_ins(db: Db) -> None:
    async def go() -> None:
        w = await world(db.url)
        try:
            async with browser() as a, browser() as b:
                csrf = await sign_in(a, w.base, THERAPIST)
                await sign_in(b, w.base, THERAPIST)
                async with a.post(
                    f"{w.base}/api/password",
                    json={"current": PASSWORD, "new": "a brand new passphrase"},
                    headers={"X-CSRF-Token": csrf},
                ) as r:
                    assert r.status == 200
                async with a.get(f"{w.base}/api/students") as r:
                    assert r.status == 200  # this browser got a fresh sign-in
                async with b.get(f"{w.base}/api/students") as r:
                    assert r.status == 401
        finally:
            await w.server.stop()

    run(go())


def test_the_caseload_is_a_wall(db: Db, tmp_path: Path) -> None:
    async def go() -> None:
        w = await world(db.url)
        try:
            n = await _uploaded(w, tmp_path / "desk.sqlite")
            async with browser() as mine, browser() as other:
                await sign_in(mine, w.base, THERAPIST)
                await sign_in(other, w.base, OTHER)
                async with mine.get(f"{w.base}/api/students/S-1/sessions") as r:
                    sessions = await r.json()
                assert [s["devices"][0]["samples"] for s in sessions] == [1000]
                sid = sessions[0]["id"]
                answers = {}
                for path in (
                    "/api/students/{}/sessions",
                    "/api/students/{}/goals",
                    "/api/students/{}/export?reason=curious",
                ):
                    for code in ("S-1", "NOT-THERE"):
                        async with other.get(w.base + path.format(code)) as r:
                            body = await r.json()
                            answers[path, code] = (r.status, body["error"].replace(code, "ID"))
                    # the same answer for a student on another caseload as for none at all
                    assert answers[path, "S-1"] == answers[path, "NOT-THERE"]
                    assert answers[path, "S-1"][0] == 404
                for path in (f"/api/sessions/{sid}", f"/api/sessions/{sid}/traces?device=grip"):
                    async with other.get(w.base + path) as r:
                        assert r.status == 404, path
                async with other.get(f"{w.base}/api/audit") as r:
                    assert r.status == 404  # therapists do not read the access log
            assert n == 1
        finally:
            await w.server.stop()

    run(go())


def test_session_detail_and_traces(db: Db, tmp_path: Path) -> None:
    async def go() -> None:
        w = await world(db.url)
        try:
            await _uploaded(w, tmp_path / "desk.sqlite", seconds=20.0, rate_hz=200.0)
            async with browser() as http:
                await sign_in(http, w.base, THERAPIST)
                async with http.get(f"{w.base}/api/students/S-1/sessions") as r:
                    sid = (await r.json())[0]["id"]
                async with http.get(f"{w.base}/api/sessions/{sid}") as r:
                    detail = await r.json()
                assert detail["upload"]["state"] == "complete"
                (grip,) = detail["devices"]
                assert grip["samples"] == 4000 and grip["rate_hz"] == pytest.approx(200.0)
                assert grip["calibrated"] is False and "UNCALIBRATED" in grip["notes"][0]
                assert [m["text"] for m in detail["marks"]] == ["right hand"]
                async with http.get(
                    f"{w.base}/api/sessions/{sid}/traces?device=grip&points=100"
                ) as r:
                    tr = await r.json()
                (force,) = tr["signals"]
                assert tr["samples"] == 4000 and tr["clock"] == "device"
                assert 2 <= len(force["t"]) <= 100 and len(force["t"]) == len(force["y"])
                async with http.get(
                    f"{w.base}/api/sessions/{sid}/traces?device=grip&points=100&from=5&to=6"
                ) as r:
                    zoom = await r.json()
                assert zoom["samples"] == 201
                assert min(zoom["signals"][0]["t"]) >= 5.0 and max(zoom["signals"][0]["t"]) <= 6.0
                async with http.get(
                    f"{w.base}/api/sessions/{sid}/traces?device=grip&points=1"
                ) as r:
                    assert r.status == 400
                async with http.get(f"{w.base}/api/sessions/{sid}/traces?device=pen") as r:
                    assert r.status == 404
        finally:
            await w.server.stop()

    run(go())


def test_export_delete_and_the_access_log(db: Db, tmp_path: Path) -> None:
    async def go() -> None:
        w = await world(db.url)
        try:
            await _uploaded(w, tmp_path / "desk.sqlite")
            async with browser() as ot, browser() as admin:
                await sign_in(ot, w.base, THERAPIST)
                csrf = await sign_in(admin, w.base, ADMIN)
                async with ot.get(f"{w.base}/api/students/S-1/sessions") as r:
                    assert r.status == 200
                async with ot.get(f"{w.base}/api/students/S-1/export") as r:
                    assert r.status == 400 and (await r.json())["reason"] == "no_reason"
                async with ot.get(f"{w.base}/api/students/S-1/export?reason=parent+request") as r:
                    assert r.status == 200
                    archive = zipfile.ZipFile(io.BytesIO(await r.read()))
                names = archive.namelist()
                assert "student.json" in names
                csv = next(n for n in names if n.endswith("grip.csv"))
                rows = archive.read(csv).decode().splitlines()
                assert rows[0] == "seq,t_s,force_counts" and len(rows) == 1001
                async with admin.get(f"{w.base}/api/audit?student=S-1") as r:
                    log = await r.json()
                actions = {(e["actor"], e["action"]) for e in log}
                assert (THERAPIST, "view") in actions and (THERAPIST, "export") in actions
                assert any(e["reason"] == "parent request" for e in log)
                async with ot.delete(
                    f"{w.base}/api/students/S-1", json={"reason": "x"}, headers={}
                ) as r:
                    assert r.status == 403  # CSRF first, and only admins delete anyway
                async with admin.delete(
                    f"{w.base}/api/students/S-1",
                    json={"reason": "family asked for deletion"},
                    headers={"X-CSRF-Token": csrf},
                ) as r:
                    assert r.status == 200
                    done = await r.json()
                assert done["removed"]["samples"] == 1000 and done["removed"]["sessions"] == 1
                assert "was deleted" in done["confirmation"]
                async with ot.get(f"{w.base}/api/students/S-1/sessions") as r:
                    assert r.status == 404
            store = w.server.store
            assert store is not None
            async with store.engine.connect() as c:
                for table in ("sessions", "blocks", "events", "metrics", "students", "goals"):
                    n = (await c.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                    left = 1 if table == "students" else 0  # S-2 at the other school
                    assert n == left, table
                mentions = (
                    await c.execute(text("SELECT count(*) FROM audit WHERE student = 'S-1'"))
                ).scalar_one()
            assert mentions == 0  # the log keeps its lines under a pseudonym
            assert any(e.action == "delete" for e in await store.audit(done["audit_pseudonym"]))
        finally:
            await w.server.stop()

    run(go())


def test_retention_deletes_old_sessions_only(db: Db, tmp_path: Path) -> None:
    async def go() -> None:
        w = await world(db.url)
        try:
            desk_db = tmp_path / "desk.sqlite"
            await _uploaded(w, desk_db)
            store = w.server.store
            assert store is not None
            async with store.engine.begin() as c:
                await c.execute(text("UPDATE sessions SET started_at = started_at - 400 * 86400"))
            await _uploaded(w, desk_db)
            removed = await apply_retention(Records(store), 365.0)
            assert removed["sessions"] == 1 and removed["samples"] == 1000
            student = await store.student("S-1")
            left = await Records(store).sessions_of(student)
            assert len(left) == 1
            assert any(e.actor == "retention" for e in await store.audit("S-1"))
        finally:
            await w.server.stop()

    run(go())


def test_an_admin_sets_the_retention_and_old_sessions_go_at_once(db: Db, tmp_path: Path) -> None:
    async def go() -> None:
        w = await world(db.url, retention_days=10000.0)  # the server's flag, until an admin sets
        try:
            desk_db = tmp_path / "desk.sqlite"
            await _uploaded(w, desk_db)
            store = w.server.store
            assert store is not None
            async with store.engine.begin() as c:
                await c.execute(text("UPDATE sessions SET started_at = started_at - 400 * 86400"))
            await _uploaded(w, desk_db)
            student = await store.student("S-1")
            async with browser() as admin, browser() as ot:
                h = {"X-CSRF-Token": await sign_in(admin, w.base, ADMIN)}
                ot_h = {"X-CSRF-Token": await sign_in(ot, w.base, THERAPIST)}
                url = f"{w.base}/api/retention"
                async with admin.get(url) as r:
                    assert await r.json() == {
                        "days": 10000.0,
                        "set_at": None,
                        "set_by": None,
                        "source": "server",
                    }
                async with ot.put(url, json={"days": 365}, headers=ot_h) as r:
                    assert r.status == 404  # admins only: outside her rights
                async with admin.put(url, json={"days": 365}) as r:
                    assert r.status == 403  # no CSRF token
                for bad in (7, 365.5, "365", True, 100000):
                    async with admin.put(url, json={"days": bad}, headers=h) as r:
                        assert r.status == 400, bad
                        assert "30 to 36500" in (await r.json())["error"]
                assert len(await Records(store).sessions_of(student)) == 2  # nothing yet
                async with admin.put(url, json={"days": 365}, headers=h) as r:
                    assert r.status == 200
                    got = await r.json()
                assert (got["days"], got["source"], got["set_by"]) == (365, "admin", ADMIN)
                for _ in range(100):  # the job wakes at once, not in an hour
                    if len(await Records(store).sessions_of(student)) == 1:
                        break
                    await asyncio.sleep(0.05)
                assert len(await Records(store).sessions_of(student)) == 1
                log = await store.audit()
                assert any(e.actor == ADMIN and e.action == "retention" for e in log)
                assert any(e.actor == "retention" and e.student == "S-1" for e in log)
                # "keep all" wins over the server's flag too
                async with admin.put(url, json={"days": None}, headers=h) as r:
                    assert (await r.json())["days"] is None
                async with admin.get(url) as r:
                    assert (await r.json())["source"] == "admin"
        finally:
            await w.server.stop()

    run(go())


def test_an_admin_adds_a_therapist_who_chooses_her_own_password_first(db: Db) -> None:
    async def go() -> None:
        w = await world(db.url)
        try:
            async with browser() as admin, browser() as new, browser() as ot:
                h = {"X-CSRF-Token": await sign_in(admin, w.base, ADMIN)}
                ot_h = {"X-CSRF-Token": await sign_in(ot, w.base, THERAPIST)}
                body = {"email": "New.OT@district.example", "role": "therapist"}
                async with ot.post(f"{w.base}/api/accounts", json=body, headers=ot_h) as r:
                    assert r.status == 404  # admins only
                async with admin.post(f"{w.base}/api/accounts", json=body, headers=h) as r:
                    assert r.status == 201
                    made = await r.json()
                assert made["email"] == "new.ot@district.example" and len(made["password"]) == 16
                async with admin.post(f"{w.base}/api/accounts", json=body, headers=h) as r:
                    assert r.status == 409  # taken
                async with admin.get(f"{w.base}/api/accounts") as r:
                    listed = {a["email"]: a for a in await r.json()}
                assert listed["new.ot@district.example"]["must_change"] is True
                assert listed[THERAPIST]["students"] == 1
                assert listed[THERAPIST]["schools"] == ["Oak Primary"]
                # her first sign-in: nothing but choosing her own password
                login = {"email": made["email"], "password": made["password"]}
                async with new.post(f"{w.base}/api/login", json=login) as r:
                    got = await r.json()
                assert got["must_change"] is True
                nh = {"X-CSRF-Token": got["csrf"]}
                async with new.get(f"{w.base}/api/students") as r:
                    assert r.status == 403
                    assert (await r.json())["reason"] == "change_password"
                async with new.get(f"{w.base}/caseload", allow_redirects=False) as r:
                    assert r.status == 302 and r.headers["Location"] == "/password?first=1"
                same = {"current": made["password"], "new": made["password"]}
                async with new.post(f"{w.base}/api/password", json=same, headers=nh) as r:
                    assert r.status == 400  # not the one she was given
                own = {"current": made["password"], "new": "a password of her own"}
                async with new.post(f"{w.base}/api/password", json=own, headers=nh) as r:
                    assert r.status == 200
                async with new.get(f"{w.base}/api/students") as r:
                    assert r.status == 200 and await r.json() == []
                # a reset: a new one-time password; her sign-ins end; the old one is gone
                url = f"{w.base}/api/accounts/{made['email']}/reset"
                async with admin.post(url, headers=h) as r:
                    again = await r.json()
                async with new.get(f"{w.base}/api/students") as r:
                    assert r.status == 401
                bad = {"email": made["email"], "password": "a password of her own"}
                async with new.post(f"{w.base}/api/login", json=bad) as r:
                    assert r.status == 401
                login["password"] = again["password"]
                async with new.post(f"{w.base}/api/login", json=login) as r:
                    assert (await r.json())["must_change"] is True
                async with admin.post(f"{w.base}/api/accounts/{ADMIN}/reset", headers=h) as r:
                    assert r.status == 400  # her own: on the password page
            log = await w.server.store.audit() if w.server.store else []
            assert any(e.action == "reset_password" and e.actor == ADMIN for e in log)
        finally:
            await w.server.stop()

    run(go())
