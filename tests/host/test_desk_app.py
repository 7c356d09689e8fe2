"""The desk app's server: only this computer's page with the run's secret may drive it; Start
refuses a wrong student code; a kit that walks off mid-session shows as reconnecting and comes
back, with everything recorded (simulated kits, real firmware, virtual radio)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.host.aiotest import run

from finemotor.cli import main
from finemotor.deskapp import DeskApp, DeskAppOptions
from finemotor.radio import Radio, open_radio
from finemotor.recording import Recording


def _opts(tmp_path: Path) -> DeskAppOptions:
    return DeskAppOptions(db=tmp_path / "r.sqlite", desk=tmp_path / "kits.json")


async def _post(
    http: aiohttp.ClientSession, url: str, action: str, body: Any = None, **kw: Any
) -> tuple[int, Any]:
    async with http.post(url + "api/" + action, json=body or {}, **kw) as r:
        if r.content_type != "application/json":
            return r.status, await r.text()
        return r.status, await r.json()


async def _state(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url + "api/state") as r:
        return await r.json()


async def _until(http: aiohttp.ClientSession, url: str, test: Any, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        state = await _state(http, url)
        if test(state):
            return state
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.1)


def test_only_the_page_with_this_runs_secret_drives_it(tmp_path: Path) -> None:
    async def go() -> None:
        app = DeskApp(Radio(), _opts(tmp_path))  # no kit paired: the radio is never used
        url = await app.start()
        base = url.split("/", 3)
        origin = f"{base[0]}//{base[2]}"
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(url) as r:
                    assert r.status == 200
                    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
                    assert '<script src="app.js"' in await r.text()
                for path in ("/", "/api/state", "/" + "x" * len(app.secret) + "/api/state"):
                    async with http.get(origin + path) as r:
                        assert r.status == 404, path
                # Another name for this computer (a page elsewhere rebinding its DNS): refused.
                async with http.get(url + "api/state", headers={"Host": "evil.example"}) as r:
                    assert r.status == 404
                status, _ = await _post(
                    http, url, "check", headers={"Origin": "http://evil.example"}
                )
                assert status == 403
                async with http.post(url + "api/check", data="{}") as r:
                    assert r.status == 415  # a form from elsewhere cannot send JSON
                state = await _state(http, url)
                assert [k["state"] for k in state["kits"]] == ["unpaired", "unpaired"]
                assert state["session"]["state"] == "idle"
        finally:
            await app.close()

    run(go())


def test_start_refuses_a_wrong_student_code_and_unpaired_kits(tmp_path: Path) -> None:
    async def go() -> None:
        app = DeskApp(Radio(), _opts(tmp_path))
        url = await app.start()
        try:
            async with aiohttp.ClientSession() as http:
                status, body = await _post(http, url, "start", {"student": "Emma Smith"})
                assert status == 400
                assert body["problem"].startswith("That is not a student code.")
                assert "never the student's name" in body["problem"]
                status, body = await _post(http, url, "start", {"student": "S-014"})
                assert status == 400
                assert body["problem"] == "Pair the pen and the grip first."
                assert body["state"]["session"]["state"] == "idle"
        finally:
            await app.close()

    run(go())


def test_simulated_kit_options_need_sim(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["desk", "--no-browser", "--sim-flat", "grip"]) == 1
    assert "add --sim" in capsys.readouterr().err


@pytest.mark.slow
def test_a_kit_that_walks_off_shows_reconnecting_and_comes_back(tmp_path: Path) -> None:
    async def go() -> dict[str, Any]:
        async with open_radio(True) as radio:
            app = DeskApp(radio, _opts(tmp_path))
            url = await app.start()
            try:
                async with aiohttp.ClientSession() as http:
                    for kind in ("stylus", "grip"):
                        await _post(http, url, "pair", {"kind": kind})
                        await _post(http, url, "pair/press")
                        await _until(http, url, lambda s: s["pairing"]["step"] == "confirm")
                        await _post(http, url, "pair/answer", {"yes": True})
                        await _until(http, url, lambda s: s["pairing"]["step"] == "done")
                        await _post(http, url, "pair/close")
                    status, _ = await _post(
                        http, url, "start", {"student": "S-9", "tasks": ["Hold the pen"]}
                    )
                    assert status == 200
                    state = await _until(http, url, lambda s: s["session"]["start_s"] is not None)
                    assert state["session"]["start_s"] < 8.0
                    grip = radio.sims["grip"]
                    grip.radio.cut(grip.address, seconds=4.0)

                    def grip_dev(s: Any) -> Any:
                        return next(d for d in s["session"]["devices"] if d["kind"] == "grip")

                    await _until(http, url, lambda s: not grip_dev(s)["connected"])
                    down = grip_dev(await _state(http, url))
                    assert down["noun"] == "grip" and not down["connected"]
                    back = await _until(http, url, lambda s: grip_dev(s)["connected"])
                    await _until(
                        http, url, lambda s: grip_dev(s)["samples"] > grip_dev(back)["samples"]
                    )
                    await _post(http, url, "stop")
                    state = await _until(http, url, lambda s: s["session"]["state"] == "ended")
                    summary: dict[str, Any] = state["session"]["summary"]
                    return summary
            finally:
                await app.close()

    summary = run(go(), 180)
    grip = summary["devices"]["grip"]
    assert grip["reconnects"] >= 1
    with Recording(tmp_path / "r.sqlite") as rec:
        links = rec.events(summary["session_id"], "link")
        assert [e.data["connected"] for e in links if e.device == "grip"][:2] == [False, True]
        assert len(rec.load_samples(summary["session_id"], "grip").seq) == grip["samples_recorded"]


@pytest.mark.slow
def test_ctrl_c_on_the_command_ends_a_running_session_with_everything_recorded() -> None:
    cmd = [sys.executable, "-m", "finemotor", "desk", "--sim", "--no-browser", "--no-view"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split(" at ")[-1].strip()
        assert url.startswith("http://127.0.0.1:")

        async def start() -> None:
            async with aiohttp.ClientSession() as http:
                for kind in ("stylus", "grip"):
                    await _post(http, url, "pair", {"kind": kind})
                    await _post(http, url, "pair/press")
                    await _until(http, url, lambda s: s["pairing"]["step"] == "confirm")
                    await _post(http, url, "pair/answer", {"yes": True})
                    await _until(http, url, lambda s: s["pairing"]["step"] == "done")
                    await _post(http, url, "pair/close")
                await _post(http, url, "start", {"student": "S-3", "tasks": ["Right hand"]})
                await _until(http, url, lambda s: s["session"]["start_s"] is not None)
                await asyncio.sleep(2.0)

        run(start(), 120)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C at the terminal, mid-session
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err
    assert "Session 1 ended after" in out
    with Recording(Path(os.environ["FINEMOTOR_DATA"]) / "recordings.sqlite") as rec:
        info = rec.session(1)
        assert info.ended_at is not None and info.student == "S-3"
        for name in ("stylus", "grip"):
            n = len(rec.load_samples(1, name).seq)
            assert n > 0 and f"{name}: {n} samples recorded" in out
        assert [e.data["text"] for e in rec.events(1, "mark")][:1] == ["Task 1: Right hand"]
