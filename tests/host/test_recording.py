"""The session recording: round trip, bad files, a full disk, and a host killed mid-session."""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from finemotor.calibration.model import DeviceCalibration
from finemotor.errors import FinemotorError, RecordingError
from finemotor.recording import Commit, Recorder, Recording, default_db_path
from finemotor.samples import DeviceKind, SampleBlock


def _block(seq0: int, n: int, channels: int = 1, kind: DeviceKind = "grip") -> SampleBlock:
    seq = np.arange(seq0, seq0 + n, dtype=np.int64)
    t = 12.345 + seq / 320.0 + 1e-9 * np.sin(seq)  # times no short decimal writes exactly
    counts = (np.outer(seq, np.arange(1, channels + 1)) * -7919 + 2**30).astype(np.int32)
    names = ("force",) if channels == 1 else tuple(f"ch{i}" for i in range(channels))
    return SampleBlock(kind, names, seq, t, counts)


def test_blocks_events_and_metrics_round_trip_exactly(tmp_path: Path) -> None:
    db = tmp_path / "rec.sqlite"
    blocks = [_block(100 + 16 * i, 16) for i in range(50)]
    pen = [_block(7 + 10 * i, 10, channels=3, kind="stylus") for i in range(5)]
    with Recorder(db, student="S-042", note="week 3") as rec:
        rec.add_device(
            "grip",
            "grip",
            ("force",),
            serial="5A2002",
            firmware="1.2.0",
            model="FM-GRIP-1",
            rate_hz=320,
            calibration=DeviceCalibration.uncalibrated(1, zero=12),
        )
        for b in blocks:
            rec.add_block("grip", b)
        for b in pen:
            rec.add_block("stylus", b)  # declared on first use
        rec.add_event("mark", {"label": "squeeze"}, device="grip", device_t=13.0)
        rec.add_metrics("grip", {"peak": 123.5})
    with Recording(db) as rd:
        (info,) = rd.list_sessions()
        assert (info.student, info.note) == ("S-042", "week 3")
        assert info.ended_at is not None and info.samples == {"grip": 800, "stylus": 50}
        grip = rd.load_samples(info.id, "grip")
        np.testing.assert_array_equal(grip.seq, np.concatenate([b.seq for b in blocks]))
        np.testing.assert_array_equal(grip.t, np.concatenate([b.t for b in blocks]))  # exact
        np.testing.assert_array_equal(grip.counts, np.concatenate([b.counts for b in blocks]))
        stylus = rd.load_samples(info.id, "stylus")
        assert stylus.counts.shape == (50, 3) and stylus.channels == ("ch0", "ch1", "ch2")
        np.testing.assert_array_equal(stylus.counts, np.concatenate([b.counts for b in pen]))
        devices = {d.name: d for d in rd.devices(info.id)}
        assert devices["grip"].serial == "5A2002" and devices["grip"].firmware == "1.2.0"
        assert devices["grip"].calibration["channels"][0]["zero"] == 12
        (event,) = rd.events(info.id)
        assert (event.kind, event.device, event.device_t) == ("mark", "grip", 13.0)
        assert event.data == {"label": "squeeze"}
        assert rd.metrics(info.id)[0]["metrics"] == {"peak": 123.5}


def test_an_hour_at_200_hz_stays_small(tmp_path: Path) -> None:
    db = tmp_path / "hour.sqlite"
    with Recorder(db, student="S1") as rec:
        for i in range(200 * 3600 // 20):
            rec.add_block("grip", _block(20 * i, 20))
    assert db.stat().st_size < 12_000_000  # 8 B of time + 4 B of counts a sample, and little else
    with Recording(db) as rd:
        assert len(rd.load_samples(1, "grip").seq) == 720_000


def test_a_name_is_refused_as_student_id(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="never the student's name"):
        Recorder(tmp_path / "r.sqlite", student="Jane Doe")


def test_an_unknown_session_or_device_says_how_to_list_them(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    with Recorder(db, student="S1") as rec:
        rec.add_block("grip", _block(0, 5))
    with Recording(db) as rd:
        with pytest.raises(RecordingError, match=r"no session 7.*finemotor sessions") as err:
            rd.load_samples(7, "grip")
        assert err.value.reason == "unknown_session"
        with pytest.raises(RecordingError, match="no device 'pen'"):
            rd.load_samples(1, "pen")
    with pytest.raises(RecordingError, match="no recording here yet"):
        Recording(tmp_path / "none.sqlite")


@pytest.mark.parametrize(
    "content",
    [b"these are my notes, not a database\n" * 50, b"SQLite format 3\x00" + b"\xff" * 4080],
)
def test_a_corrupt_file_is_named_and_left_unchanged(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "r.sqlite"
    db.write_bytes(content)
    for opener in (lambda: Recorder(db, student="S1"), lambda: Recording(db)):
        with pytest.raises(RecordingError, match="nothing was changed") as err:
            opener()
        assert err.value.reason == "corrupt" and str(db) in str(err.value)
        assert "--db" not in str(err.value)  # a library error; the command line adds its flag
        assert isinstance(err.value, FinemotorError)
    assert db.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.sqlite"]


def test_a_locked_database_says_another_finemotor_may_use_it(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    with Recorder(db, student="S1") as rec:
        rec.add_block("grip", _block(0, 32))
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(RecordingError, match="another finemotor may be using it") as err:
            Recorder(db, student="S2", busy_timeout_s=0.2)
        assert err.value.reason == "locked"
        with Recording(db) as rd:  # readers still read (WAL)
            assert rd.list_sessions()[0].samples == {"grip": 32}
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_full_disk_loses_nothing_that_was_recorded(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    rec = Recorder(db, student="S1", flush_s=1.0)
    rec.add_block("grip", _block(0, 100))
    rec.flush()
    pages = rec._conn.execute("PRAGMA page_count").fetchone()[0]
    rec._conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is now full
    for i in range(1, 40):
        rec.add_block("grip", _block(100 * i, 100))
    with pytest.raises(RecordingError, match=r"disk is full.*committed is safe") as err:
        rec.flush()
    assert err.value.reason == "full" and rec.failure is not None
    with Recording(db) as rd:
        assert rd.list_sessions()[0].samples == {"grip": 100}
    rec._conn.execute("PRAGMA max_page_count = 1000000")  # space freed
    rec.close()
    with Recording(db) as rd:
        got = rd.load_samples(1, "grip")
        np.testing.assert_array_equal(got.seq, np.arange(4000))


def test_the_default_location_follows_finemotor_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINEMOTOR_DATA", str(tmp_path / "data"))
    assert default_db_path() == tmp_path / "data" / "recordings.sqlite"
    monkeypatch.delenv("FINEMOTOR_DATA")
    assert default_db_path().name == "recordings.sqlite"


@pytest.mark.parametrize("flush_s", [0.2, 0.4])
def test_commits_come_every_flush_interval(tmp_path: Path, flush_s: float) -> None:
    """Blocks arrive every 50 ms for 2.4 s: commits come every ``flush_s`` (a recorder that
    committed less often, or only on close, fails the count and the largest gap)."""
    commits: list[Commit] = []
    with Recorder(
        tmp_path / "r.sqlite", student="S1", flush_s=flush_s, on_commit=commits.append
    ) as rec:
        for i in range(48):
            rec.add_block("grip", _block(10 * i, 10))
            time.sleep(0.05)
        while_open = list(commits)
    assert commits[-1].last_seq == {"grip": 479}
    expected = 2.4 / flush_s
    assert 0.6 * expected <= len(while_open) <= expected + 2
    gaps = np.diff([c.host_t for c in while_open])
    assert gaps.max() <= flush_s + 0.25  # the interval, and scheduling on a busy machine
    assert np.median(gaps) == pytest.approx(flush_s, abs=0.05)


_CHILD = """
import asyncio, json, sys, threading, time
from finemotor.recording import Recorder
from finemotor.source import open_source

rx = {"seq": -1}
said = threading.Lock()  # the writer thread and the main thread both report, one whole line each

def say(fact):
    with said:
        sys.stdout.write(json.dumps(fact) + "\\n")
        sys.stdout.flush()

def committed(c):
    say({"commit": c.last_seq.get("grip", -1), "t": c.host_t})
rec = Recorder(sys.argv[1], student="S-kill", flush_s=0.5, on_commit=committed)

def take(blocks):
    for b in blocks:
        rec.add_block("grip", b)
        rx["seq"] = max(rx["seq"], int(b.seq[-1]))
    say({"rx": rx["seq"], "t": time.time()})

async def main():
    async with open_source("sim://grip?seed=2", on_blocks=take) as link:
        say({"rate": link.info.rate_hz})
        await asyncio.sleep(60)

asyncio.run(main())
"""


@pytest.mark.slow  # a simulated kit streaming into a host process in real time, then SIGKILL
def test_a_host_killed_mid_session_keeps_every_sample_up_to_the_last_second(
    tmp_path: Path,
) -> None:
    db = tmp_path / "killed.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(db)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[dict[str, float]] = queue.Queue()
    assert child.stdout is not None
    stdout = child.stdout
    threading.Thread(target=lambda: [lines.put(json.loads(x)) for x in stdout], daemon=True).start()
    seen: list[dict[str, float]] = []
    deadline = time.monotonic() + 60
    try:
        while sum(1 for x in seen if x.get("commit", -1) >= 0) < 6:  # about 3 s of streaming
            assert time.monotonic() < deadline, "the simulated session did not start"
            seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
        time.sleep(0.37)  # somewhere between two commits
        killed_at = time.time()
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)
    time.sleep(0.2)
    while not lines.empty():
        seen.append(lines.get())
    assert child.returncode == -signal.SIGKILL
    rate = next(x["rate"] for x in seen if "rate" in x)
    commits = [x for x in seen if "commit" in x]
    last_commit = commits[-1]
    received = max(x["rx"] for x in seen if "rx" in x)

    with Recording(db) as rd:
        (info,) = rd.list_sessions()
        assert info.ended_at is None and info.student == "S-kill"
        got = rd.load_samples(info.id, "grip")
    # every sample up to the last printed commit is there, contiguous from the first
    assert got.seq[-1] >= last_commit["commit"]
    np.testing.assert_array_equal(got.seq, np.arange(got.seq[0], got.seq[0] + len(got.seq)))
    assert np.all(np.diff(got.t) > 0)
    # and the last commit was no more than about a second before the kill
    assert killed_at - last_commit["t"] <= 1.0
    assert received - got.seq[-1] <= rate * 1.0 + 32


def test_a_reader_cannot_write_even_through_query(tmp_path: Path) -> None:
    db = tmp_path / "rec.sqlite"
    with Recorder(db, student="S-1") as rec:
        rec.add_block("grip", _block(0, 8))
    with Recording(db) as reading, pytest.raises(RecordingError):
        reading.query("DELETE FROM blocks")
    with Recording(db) as reading:
        assert reading.query("SELECT count(*) FROM blocks")[0][0] == 1


_WRITER_WITH_A_READER = r"""
import sys
from finemotor.recording import Recording, write_transaction
reader = Recording(sys.argv[1])  # open the whole time, as an upload's reader is
for i in range(200):
    reader.query("SELECT count(*) FROM blocks")
    with write_transaction(sys.argv[1]) as conn:
        conn.execute(
            "INSERT INTO uploads (session_id, state) VALUES (?, 'recorded') "
            "ON CONFLICT(session_id) DO UPDATE SET block_row = block_row + 1",
            (int(sys.argv[2]),),
        )
print("done")
"""


def test_a_reader_elsewhere_never_breaks_a_writer_that_also_reads(tmp_path: Path) -> None:
    """A process that keeps a reader open and writes in short transactions (the desk's
    upload), while another process opens and closes readers (``finemotor sessions``): no
    transaction may fail. Opening the file outside SQLite once dropped the writer's POSIX
    locks, and the other reader then checkpointed the log away under it (disk I/O error)."""
    db = tmp_path / "rec.sqlite"
    with Recorder(db, student="S-1") as rec:
        session = rec.session_id
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER_WITH_A_READER, str(db), str(session)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while writer.poll() is None:
        with Recording(db) as reader:
            reader.query("SELECT block_row FROM uploads")
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0 and out.strip() == "done", err
    with Recording(db) as reader:
        assert reader.query("SELECT block_row FROM uploads") == [(199,)]
