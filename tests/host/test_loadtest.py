"""``finemotor loadtest`` against real relays: in this process, two of them without a shared
bus, and a ``finemotor relay`` subprocess (whose CPU time it reads from /proc); its refusal of
a server that is not on this computer and its error for one that is not there."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.host.aiotest import run

from finemotor.forwarder import FRAME_HZ, TILES_HZ
from finemotor.loadtest import (
    LoadOptions,
    LoadResult,
    LoadTestError,
    ReplayPlan,
    build_plan,
    default_recording,
    format_result,
    run_loadtest,
)
from finemotor.relay import Relay
from finemotor.relay.frames import check_publisher

JSON_KEYS = {
    "servers",
    "sessions",
    "viewers_per_session",
    "seconds",
    "replayed",
    "publishers_connected",
    "viewers_connected",
    "frames_sent",
    "other_frames_sent",
    "frames_unsent",
    "frames_delivered",
    "frames_expected",
    "delivery_pct",
    "relay_dropped",
    "latency",
    "publisher_reconnects",
    "viewer_reconnects",
    "refused",
    "connect_errors",
    "server_cpu",
    "loadtest_cpu_s",
}


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short simulated recording (10 s), made as the default one is."""
    return default_recording(tmp_path_factory.mktemp("loadtest"), seconds=10.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def consistent(r: LoadResult) -> None:
    """What holds of any result: counts that add up and ordered latencies."""
    assert r.frames_expected == r.frames_sent * r.viewers_per_session
    assert 0 <= r.frames_delivered <= r.frames_expected
    lat = r.latency
    if r.frames_delivered:
        assert lat.p50_ms is not None and lat.p95_ms is not None and lat.p99_ms is not None
        assert lat.max_ms is not None
        assert 0 < lat.p50_ms <= lat.p95_ms <= lat.p99_ms <= lat.max_ms
    assert set(r.to_json()) == JSON_KEYS


def test_the_replayed_frames_are_what_the_relay_accepts(recording: Path) -> None:
    plan = build_plan(recording)
    assert plan.devices == ("stylus", "grip")
    assert 9.9 < plan.duration_s < 10.1
    kinds = {f.kind for f in plan.frames}
    assert kinds == {"d", "s"}  # the tiles ride in the data frames, as the forwarder's do
    data = [f for f in plan.frames if f.kind == "d"]
    # batched as the forwarder does: at most FRAME_HZ a second per device
    assert 2 * 8 * 10 < len(data) <= 2 * (FRAME_HZ * 10 + 1)
    with_tiles = {
        dev: sum(1 for f in data if f.dev == dev and '"m":{' in f.render(0.0))
        for dev in plan.devices
    }
    assert all(15 <= n <= TILES_HZ * 10 + 1 for n in with_tiles.values()), with_tiles
    now = time.time() * 1000.0
    for frame in plan.frames[:400]:
        text = frame.render(now)
        check_publisher(text, frozenset(plan.devices), 64 * 1024)
        if frame.kind == "d":
            obj = json.loads(text)
            parts = obj.get("ds", [obj])
            assert parts[0]["t"][-1] == pytest.approx(now, abs=0.06)  # the newest point first
            assert all(t <= now + 0.06 for p in parts for t in p["t"])
    # every decimated point of the recording is in exactly one frame, per device in order
    per_block = build_plan(recording, frame_hz=math.inf)
    assert sum(1 for f in per_block.frames if f.kind == "d") > 90 * 10  # a frame per block

    def points(p: ReplayPlan) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for f in p.frames:
            if f.kind == "d":
                obj = json.loads(f.render(0.0))
                for part in obj.get("ds", [obj]):
                    out.setdefault(part["dev"], []).extend(part["tr"][next(iter(part["tr"]))])
        return out

    assert points(plan) == points(per_block)


def test_one_relay_delivers_every_frame_with_its_latency(recording: Path) -> None:
    async def main() -> LoadResult:
        async with Relay() as relay:
            opts = LoadOptions((relay.url,), 3, 2, 3.0, recording=recording)
            return await run_loadtest(opts)

    r = run(main(), 30)
    consistent(r)
    assert (r.publishers_connected, r.viewers_connected) == (3, 6)
    assert r.frames_sent > 3 * 3.0 * 14  # ~17 data frames a second per session, batched
    assert r.frames_expected == 2 * r.frames_sent
    assert r.delivery_pct is not None and r.delivery_pct >= 99.0
    assert r.refused == {} and r.connect_errors == 0
    assert r.publisher_reconnects == r.viewer_reconnects == 0
    assert r.latency.p99_ms is not None and r.latency.p99_ms < 1000
    assert r.server_cpu[0].cpu_s is None and "inside this process" in r.server_cpu[0].note
    text = format_result(r)
    assert "p95" in text and " ms" in text and "%" in text and "?" not in text


def test_two_relays_without_a_shared_bus_report_refused_viewers(recording: Path) -> None:
    async def main() -> LoadResult:
        async with Relay() as a, Relay() as b:
            opts = LoadOptions((a.url, b.url), 2, 2, 2.0, recording=recording, drain_s=0.5)
            return await run_loadtest(opts)

    r = run(main(), 30)
    consistent(r)
    assert r.publishers_connected == 2
    assert r.frames_sent > 0
    if r.viewers_connected < 4:  # each viewer is on the other relay, which has no such session
        assert r.refused.get("404", 0) >= 4 - r.viewers_connected
    assert r.frames_delivered <= r.frames_expected


def test_the_command_loads_a_relay_process_and_reads_its_cpu(recording: Path) -> None:
    port = free_port()
    relay = subprocess.Popen(
        [sys.executable, "-m", "finemotor", "relay", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert relay.stdout is not None
        assert "listening" in relay.stdout.readline()
        url = f"http://127.0.0.1:{port}"
        args = ["--server", url, "--sessions", "2", "--viewers-per-session", "2"]
        args += ["--seconds", "2", "--json", "--recording", str(recording)]
        done = subprocess.run(
            [sys.executable, "-m", "finemotor", "loadtest", *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        relay.terminate()
        relay.wait(10)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) == JSON_KEYS
    assert set(out["latency"]) == {"p50_ms", "p95_ms", "p99_ms", "max_ms"}
    assert out["frames_delivered"] <= out["frames_sent"] * 2
    assert out["delivery_pct"] >= 99.0
    (cpu,) = out["server_cpu"]
    assert cpu["server"] == url and cpu["pids"] == [relay.pid]
    assert cpu["cpu_s"] is not None and cpu["cpu_s"] > 0 and cpu["note"] == ""


def test_a_server_not_on_this_computer_is_refused_before_connecting() -> None:
    async def main() -> None:
        opts = LoadOptions(("http://192.0.2.1:9",), 1, 1, 1.0, connect_timeout_s=30.0)
        await run_loadtest(opts)

    started = time.monotonic()
    with pytest.raises(LoadTestError, match="--i-own-these-servers"):
        run(main(), 10)
    assert time.monotonic() - started < 2.0  # no connection attempted (it would hang)


def test_an_unreachable_server_is_one_sentence_and_a_failing_exit() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "finemotor", "loadtest", "--server", url, "--seconds", "1"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_CACHE_HOME": "/nonexistent"},
    )
    assert done.returncode != 0
    assert done.stdout == ""
    err = done.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "cannot reach the server at" in err and url in err
