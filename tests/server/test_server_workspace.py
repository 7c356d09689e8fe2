"""What the workspace's pages add to the API: each goal's progress, the therapist's note on a
session, the session's PDF report drawn on the server, the device clocks; all 404 outside the
caseload. And the pages themselves: sign in first, 404 for another's student."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from server_helpers import OTHER, THERAPIST, Db, browser, record, sign_in, world
from tests.host.aiotest import run

from finemotor.metrics.definitions import METRIC_DEFINITIONS, metric_definition, metric_paths
from finemotor.server.progress import VALUES_MADE_BY, Analyses, goal_trend
from finemotor.server.records import Records
from finemotor.sync.uploader import Uploader

WEEK = 7 * 86400.0


def test_goal_trend_reports_baseline_slope_and_projection() -> None:
    t0 = 1_780_000_000.0
    goal = {"target": 200.0, "direction": "at_least", "by": "2099-01-01"}
    points = [(t0 + k * WEEK, 100.0 + 10.0 * k + (1.0 if k % 2 else -1.0)) for k in range(6)]
    got = goal_trend(goal, points)
    assert got["baseline"] == 99.0 and got["latest"] == 151.0 and got["points"] == 6
    assert got["slope_per_week"] == pytest.approx(10.0, abs=0.6)
    assert 0.0 < got["slope_se"] < 1.0
    assert got["trend"] == "improving" and got["status"] == "on track"
    # 200 is reached about 10 weeks after the first point
    weeks = (time.mktime(time.strptime(got["projected"], "%Y-%m-%d")) - t0) / WEEK
    assert 9.0 < weeks < 11.5
    flat = goal_trend(goal, [(t0 + k * WEEK, 100.0 + (5.0 if k % 2 else -5.0)) for k in range(6)])
    assert flat["trend"] == "no clear change" and flat["status"] == "not on track"
    worse = goal_trend(goal | {"direction": "at_most", "target": 50.0}, points)
    assert worse["trend"] == "getting worse" and worse["projected"] is None
    assert goal_trend(goal, [(t0, 210.0)])["status"] == "reached"
    assert goal_trend(goal, [])["status"] == "no data"
    late = goal_trend(goal | {"by": "2000-01-01"}, points)
    assert late["status"] == "not on track" and late["projected"] is not None


def test_progress_note_report_and_clocks_only_on_the_caseload(db: Db, tmp_path: Path) -> None:
    async def go() -> None:
        w = await world(db.url)
        try:
            desk_db = tmp_path / "desk.db"
            record(desk_db, seconds=30.0)
            await Uploader(w.desk, desk_db).sync()
            async with browser() as ot, browser() as other:
                csrf = await sign_in(ot, w.base, THERAPIST)
                await sign_in(other, w.base, OTHER)
                async with ot.get(f"{w.base}/api/students/S-1/sessions") as r:
                    (session,) = await r.json()
                sid = session["id"]
                goal = {"metric": "grip_peak_right", "target": 150.0}
                h = {"X-CSRF-Token": csrf}
                async with ot.post(f"{w.base}/api/students/S-1/goals", json=goal, headers=h) as r:
                    assert r.status == 201
                async with ot.get(f"{w.base}/api/students/S-1/progress") as r:
                    p = await r.json()
                assert [s["id"] for s in p["sessions"]] == [sid]
                got = p["sessions"][0]
                assert got["values"]["grip_peak_right"] is None  # a grip without calibration
                assert "uncalibrated" in got["why"]["grip_peak_right"]
                assert "stylus" in got["why"]["pen_cv"]
                (g,) = p["goals"]
                assert g["trend"]["points"] == 0 and g["trend"]["status"] == "no data"
                assert p["metrics"]["grip_peak_right"]["unit"] == "N"
                note = {"text": "tired after lunch"}
                url = f"{w.base}/api/sessions/{sid}/note"
                async with ot.put(url, json=note) as r:
                    assert r.status == 403  # no CSRF token
                async with ot.put(url, json=note, headers=h) as r:
                    assert r.status == 200
                async with ot.get(f"{w.base}/api/sessions/{sid}") as r:
                    s = await r.json()
                assert s["therapist_note"] == "tired after lunch"
                (grip,) = s["devices"]
                assert grip["clock"]["events"] == 1 and grip["clock"]["offset_s"] is not None
                # what each of the session's metrics means, once per hand, trial or minute
                shown = {metric_definition(p) for p in metric_paths(grip["metrics"])}
                assert None not in shown and "trials.*.peak" in s["definitions"]
                assert s["definitions"] == {d.path: d.to_json() for d in shown if d}
                assert s["definitions"]["pinch.change"] == {
                    "text": METRIC_DEFINITIONS["pinch.change"].text,
                    "doc": "docs/metrics.md#55-per-hand",
                }
                async with ot.get(f"{w.base}/api/sessions/{sid}/report.pdf") as r:
                    assert r.status == 200 and r.content_type == "application/pdf"
                    assert (await r.read())[:5] == b"%PDF-"
                for path in (
                    "/api/students/S-1/progress",
                    f"/api/sessions/{sid}/report.pdf",
                    "/students/S-1",
                    f"/sessions/{sid}",
                ):
                    async with other.get(w.base + path, allow_redirects=False) as r:
                        assert r.status == 404, path
                async with other.put(url, json=note, headers=h) as r:
                    assert r.status in (403, 404)
                async with ot.get(f"{w.base}/students/S-1", allow_redirects=False) as r:
                    assert r.status == 200 and "text/html" in r.content_type
                    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
            async with browser() as anon:
                async with anon.get(f"{w.base}/students/S-1", allow_redirects=False) as r:
                    assert r.status == 302 and r.headers["Location"].startswith("/signin")
                async with anon.get(f"{w.base}/ui/../pages.py", allow_redirects=False) as r:
                    assert r.status == 404
        finally:
            await w.server.stop()

    run(go(), seconds=120)


def test_the_therapist_plans_tasks_and_the_desk_of_that_school_gets_them(db: Db) -> None:
    async def go() -> None:
        w = await world(db.url)
        try:
            async with browser() as ot, browser() as other, browser() as desk:
                csrf = await sign_in(ot, w.base, THERAPIST)
                other_csrf = await sign_in(other, w.base, OTHER)
                url = f"{w.base}/api/students/S-1/tasks"
                async with ot.get(url) as r:
                    assert (await r.json())["tasks"] == []  # nothing planned yet
                plan = {"tasks": ["Right hand: squeeze 3 times", " Copy the sentence\n"]}
                async with ot.put(url, json=plan) as r:
                    assert r.status == 403  # no CSRF token
                h = {"X-CSRF-Token": csrf}
                for bad, why in (
                    ({"tasks": "squeeze"}, "a list of tasks"),
                    ({"tasks": ["squeeze", "  "]}, "task 2 is empty"),
                    ({"tasks": ["x" * 161]}, "longer than 160"),
                    ({"tasks": ["x"] * 21}, "at most 20"),
                ):
                    async with ot.put(url, json=bad, headers=h) as r:
                        assert r.status == 400 and why in (await r.json())["error"], bad
                async with ot.put(url, json=plan, headers=h) as r:
                    assert r.status == 200
                    got = await r.json()
                assert got["tasks"] == ["Right hand: squeeze 3 times", "Copy the sentence"]
                assert got["set_by"] == THERAPIST
                async with ot.put(url, json={"tasks": ["Copy the sentence"]}, headers=h) as r:
                    assert r.status == 200
                async with ot.get(url + "?history=1") as r:
                    history = await r.json()
                assert [p["tasks"] for p in history] == [
                    ["Right hand: squeeze 3 times", "Copy the sentence"],
                    ["Copy the sentence"],
                ]
                assert history[0]["replaced_at"] is not None
                # the desk at S-1's school gets the plan in force with its caseload
                hd = w.desk.headers()
                async with desk.get(f"{w.base}/api/desk", headers=hd) as r:
                    me = await r.json()
                assert me["students"] == ["S-1"]
                assert me["plans"] == {"S-1": ["Copy the sentence"]}
                # another therapist's student: 404, to read and to write
                oh = {"X-CSRF-Token": other_csrf}
                async with other.get(url) as r:
                    assert r.status == 404
                async with other.put(url, json={"tasks": ["x"]}, headers=oh) as r:
                    assert r.status == 404
                # no plan any more: the desk offers its usual tasks
                async with ot.put(url, json={"tasks": []}, headers=h) as r:
                    assert r.status == 200
                async with desk.get(f"{w.base}/api/desk", headers=hd) as r:
                    assert (await r.json())["plans"] == {}
        finally:
            await w.server.stop()

    run(go(), seconds=60)


def test_goal_values_are_worked_out_when_an_upload_completes_and_kept(
    db: Db, tmp_path: Path
) -> None:
    async def go() -> None:
        w = await world(db.url)
        try:
            desk_db = tmp_path / "desk.db"
            record(desk_db, seconds=30.0)
            await Uploader(w.desk, desk_db).sync()
            store = w.server.store
            assert store is not None
            records = Records(store)
            (row,) = await records.session_rows(await store.student("S-1"))
            stored = None
            for _ in range(200):  # worked out in the background, just after completing
                stored = await records.stored_values(row.id, VALUES_MADE_BY)
                if stored is not None:
                    break
                await asyncio.sleep(0.05)
            assert stored is not None and set(stored) == {"values", "why", "pen_source"}
            # As after a restart: a new server's progress reads them, analysing nothing.
            fresh = Analyses(records)

            async def no_analysis(_row: object) -> None:
                raise AssertionError("analysed again")

            fresh.of = no_analysis  # type: ignore[assignment,method-assign]
            assert await fresh.values(row) == stored
            # Values another version of the analysis made are worked out again.
            await records.store_values(row.id, "finemotor 0.0.1/1", {"values": {}})
            again = Analyses(records)
            assert await again.values(row) == stored
            assert await records.stored_values(row.id, VALUES_MADE_BY) == stored
            # Deleting the student's sessions deletes them too.
            await records.delete_sessions(await store.student("S-1"))
            assert await records.stored_values(row.id, VALUES_MADE_BY) is None
        finally:
            await w.server.stop()

    run(go(), seconds=60)
