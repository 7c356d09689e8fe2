"""A session from start to finish: simulated kits (their firmware under MicroPython) on the
virtual radio, recorded into SQLite, the therapist's marks coming back through a real relay,
the facilitator's command ended with Ctrl-C, and a recording replayed through the same path."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from finemotor.cli import main
from finemotor.cli.session import status_line
from finemotor.recording import Recorder, Recording
from finemotor.samples import SampleBlock
from finemotor.session import (
    DeviceStatus,
    SessionOptions,
    SessionRunner,
    SessionStatus,
    SessionSummary,
)
from finemotor.source import open_link


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "FINEMOTOR_DATA": str(tmp_path / "data")}


async def _marked_session(db: Path, seconds: float) -> tuple[SessionSummary, dict[str, object]]:
    runner = SessionRunner(SessionOptions(student="S-010", db=db))
    async with open_link("sim://grip?seed=3", runner.consumer("grip")) as link:
        await runner.start({"grip": link})
        assert runner.view_url is not None
        ws_url = runner.view_url.replace("http", "ws", 1).replace("/view/", "/ws/view/")
        ack: dict[str, object] = {}
        assert runner.forwarder is not None
        async with asyncio.timeout(10):
            while not runner.forwarder.connected:  # the relay knows the session once published
                await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as http, http.ws_connect(ws_url) as ws:
            await asyncio.sleep(1.0)
            await ws.send_str(json.dumps({"k": "mark", "text": "right hand", "cid": 1}))
            async with asyncio.timeout(10):
                async for msg in ws:
                    frame = json.loads(msg.data)
                    if frame.get("k") == "ack":
                        ack = frame
                        break
            t_end = time.monotonic() + seconds
            while time.monotonic() < t_end:
                runner.tick()
                await asyncio.sleep(0.5)
        summary = await runner.finish()
    return summary, ack


@pytest.mark.slow
def test_marks_from_the_view_are_recorded_on_device_time_and_set_the_hand(
    tmp_path: Path,
) -> None:
    db = tmp_path / "rec.sqlite"
    summary, ack = asyncio.run(_marked_session(db, seconds=14.0))
    assert ack["text"] == "right hand" and ack["recorded"] is True
    with Recording(db) as rec:
        info = rec.session(summary.session_id)
        assert info.ended_at is not None
        marks = rec.events(summary.session_id, "mark")
        samples = rec.load_samples(summary.session_id, "grip")
        final = [m for m in rec.metrics(summary.session_id) if m["metrics"].get("final")]
    assert len(marks) == 1 and marks[0].device == "grip"
    assert marks[0].data["text"] == "right hand"
    t_mark = marks[0].device_t
    assert t_mark is not None and samples.t[0] <= t_mark <= samples.t[-1]
    assert ack["device_t"] == {"grip": round(t_mark, 3)}
    # Every sample the session received is in the file, consecutive, none lost.
    assert len(samples.seq) == summary.devices["grip"]["samples_recorded"]
    assert np.all(np.diff(samples.seq) == 1)
    assert summary.devices["grip"]["lost"] == 0
    # The squeezes after the mark are the right hand's, live and in the recorded final metrics.
    trials = summary.devices["grip"]["metrics"]["trials"]
    after = [tr for tr in trials if tr["onset_s"]["value"] >= t_mark]
    assert after, "the simulated student squeezed after the mark"
    assert all(tr["hand"] == "right" for tr in after)
    assert final and final[-1]["metrics"]["summary"]["trials"] == trials


def test_replay_plays_a_recording_through_the_same_pipeline_sample_for_sample(
    tmp_path: Path,
) -> None:
    db = tmp_path / "rec.sqlite"
    summary, _ack = asyncio.run(_marked_session(db, seconds=4.0))
    code = main(
        [
            "session",
            "--student",
            "S-010",
            "--db",
            str(db),
            "--no-view",
            "--json",
            "--source",
            f"replay://{summary.session_id}/grip?speed=0&db={db}",
        ]
    )
    assert code == 0
    with Recording(db) as rec:
        sessions = rec.list_sessions()
        again = sessions[-1].id
        assert again != summary.session_id
        a = rec.load_samples(summary.session_id, "grip")
        b = rec.load_samples(again, "grip")
        cal_a = rec.devices(summary.session_id)[0].calibration
        cal_b = rec.devices(again)[0].calibration
        final = [m for m in rec.metrics(again) if m["metrics"].get("final")]
    np.testing.assert_array_equal(a.seq, b.seq)
    np.testing.assert_array_equal(a.t, b.t)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert cal_a == cal_b and cal_a is not None
    # The replay has no hand mark, so its trials are unspecified; the peaks are the same.
    peaks = [tr["peak"]["value"] for tr in final[-1]["metrics"]["summary"]["trials"]]
    original = [tr["peak"]["value"] for tr in summary.devices["grip"]["metrics"]["trials"]]
    assert peaks == pytest.approx(original, rel=1e-9)


def test_replay_of_an_unknown_session_says_what_exists(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "rec.sqlite"
    with Recorder(db, student="S-1") as rec:  # a recorded grip, nothing else
        seq = np.arange(8, dtype=np.int64)
        counts = np.zeros((8, 1), np.int32)
        rec.add_block("grip", SampleBlock("grip", ("force",), seq, seq / 320.0, counts))
    code = main(["session", "--student", "S-1", "--db", str(db), "--source", "replay://99/grip"])
    assert code == 1
    err = capsys.readouterr().err
    assert "no session 99" in err and "finemotor sessions" in err
    code = main(["session", "--student", "S-1", "--source", f"replay://1/stylus?db={db}"])
    assert code == 1
    assert "has no device 'stylus' (it has: grip)" in capsys.readouterr().err


@pytest.mark.slow
def test_a_low_battery_stops_the_session_before_anything_is_recorded(tmp_path: Path) -> None:
    env = _env(tmp_path)
    cmd = [sys.executable, "-m", "finemotor", "session", "--student", "S-3", "--no-view"]
    cmd += ["--source", "sim://grip?battery_mv=3450", "--seconds", "2"]
    refused = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert "battery is at" in refused.stdout and "charger" in refused.stdout
    assert "nothing was recorded" in refused.stderr and "--anyway" in refused.stderr
    db = tmp_path / "data" / "recordings.sqlite"
    assert not db.exists()
    anyway = subprocess.run(
        [*cmd, "--anyway", "--json"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert anyway.returncode == 0, anyway.stderr
    summary = json.loads(anyway.stdout)
    assert [f["code"] for f in summary["flags"]] == ["battery_low"]
    with Recording(db) as rec:
        flags = rec.events(summary["session_id"], "preflight_flag")
    assert [e.data["code"] for e in flags] == ["battery_low"]
    assert flags[0].device == "grip"


@pytest.mark.slow
def test_facilitator_session_pairs_records_and_ends_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """The facilitator's command with nothing paired yet: it pairs both simulated kits (the
    button pressed and the blink confirmed for them), records, and Ctrl-C ends it with a
    summary; a second session then finds this desk's kits without pairing."""
    env = _env(tmp_path)
    cmd = [sys.executable, "-m", "finemotor", "session", "--student", "S-7", "--sim"]
    # Its own process group, as a terminal's foreground job: Ctrl-C goes to the whole group.
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 150
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("Press Ctrl-C") or time.monotonic() > deadline:
            break
    time.sleep(4.0)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out, err = proc.communicate(timeout=60)
    text = "".join(lines) + out
    assert proc.returncode == 0, err
    # The simulated kits did not take the Ctrl-C: no "stopped on its own", no MicroPython
    # traceback, only the session's own ending.
    assert "stopped on its own" not in text + err and "Traceback" not in text + err
    assert "KeyboardInterrupt" not in text + err
    assert "Pairing the stylus" in text and "Pairing the grip" in text
    assert "Therapist's link: http://127.0.0.1:" in text
    assert "Session 1 ended after" in text
    desk = json.loads((tmp_path / "data" / "kits.json").read_text())
    assert sorted(k["kind"] for k in desk["kits"]) == ["grip", "stylus"]
    with Recording(tmp_path / "data" / "recordings.sqlite") as rec:
        info = rec.session(1)
        assert info.ended_at is not None and info.student == "S-7"
        for name in ("stylus", "grip"):
            s = rec.load_samples(1, name)
            assert len(s.seq) > 0 and np.all(np.diff(s.seq) == 1)
            assert f"{name}: {len(s.seq)} samples recorded" in text
    again = subprocess.run(
        [*cmd, "--seconds", "2", "--no-view"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert again.returncode == 0, again.stderr
    assert "Pairing" not in again.stdout and "Session 2 ended" in again.stdout
    # The simulated kits restarted without their bonds: each asks for its button again.
    assert again.stdout.count("no longer knows this computer") == 2


def test_the_status_line_says_what_the_facilitator_needs() -> None:
    grip = DeviceStatus("grip", True, 80, 3200, 0, 3200)
    pen = DeviceStatus("stylus", False, None, 2000, 16, 1984)
    st = SessionStatus(75.0, (grip, pen), 0.4, None, 2, None, watching=1)
    assert status_line(st) == (
        "01:15 | grip connected, battery 80 %, 3200 samples | stylus RECONNECTING, 2000 samples, "
        "16 lost | saved 0.4 s ago | 2 marked | therapist watching"
    )
    alone = SessionStatus(5.0, (grip,), None, "the disk is full", 0, "the relay is full")
    assert status_line(alone) == (
        "00:05 | grip connected, battery 80 %, 3200 samples | NOT SAVING: the disk is full "
        "| therapist view: the relay is full"
    )


def test_a_session_that_fails_before_finishing_is_closed_with_what_it_recorded(
    tmp_path: Path,
) -> None:
    db = tmp_path / "rec.sqlite"

    async def go() -> str:
        runner = SessionRunner(SessionOptions(student="S-011", db=db))
        async with open_link("sim://grip?seed=4", runner.consumer("grip")) as link:
            await runner.start({"grip": link})
            assert runner.view_url is not None and runner.forwarder is not None
            async with asyncio.timeout(10):
                while not runner.forwarder.connected:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)
            url = runner.view_url
            await runner.aclose()  # as when something fails between start and finish
            await runner.aclose()  # twice: nothing more
        return url

    url = asyncio.run(go())
    with Recording(db) as rec:  # closed, readable, with the samples taken
        (session,) = rec.list_sessions()
        assert rec.load_samples(session.id, "grip").t.shape[0] > 100

    async def gone() -> None:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientConnectionError):  # its relay stopped with it
                await http.get(url, timeout=aiohttp.ClientTimeout(total=2))

    asyncio.run(gone())
