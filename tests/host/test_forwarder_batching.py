"""The forwarder batches display points: every decimated point goes out exactly once and in
order, one frame carries every device's points, frames keep the configured cadence (on a
test's own clock: nothing here is timed), a block that stops still has its last points sent by
the timer, and close() sends what is waiting."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import socket
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiotest import eventually, run
from hypothesis import given, settings
from hypothesis import strategies as st

from finemotor.calibration.model import DeviceCalibration
from finemotor.errors import FinemotorError
from finemotor.forwarder import (
    DISPLAY_HZ,
    FRAME_HZ,
    MAX_FRAME_POINTS,
    TILES_HZ,
    Forwarder,
    display_points,
    tiles,
)
from finemotor.metrics.live import GripEngine
from finemotor.relay import PublishedSession, Relay
from finemotor.relay.frames import check_publisher
from finemotor.samples import SampleBlock

STYLUS_HZ, GRIP_HZ = 200.0, 320.0
CHANNELS = {"stylus": ("tip", "barrel_a", "barrel_b"), "grip": ("force",)}
CAL = {dev: DeviceCalibration.uncalibrated(len(ch)) for dev, ch in CHANNELS.items()}


class Clock:
    """A monotonic clock (s) the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def kit_block(dev: str, start: int, n: int) -> SampleBlock:
    """``n`` samples from sample ``start``; each count is its sample's number (uncalibrated,
    so each displayed value names the sample it came from)."""
    fs = STYLUS_HZ if dev == "stylus" else GRIP_HZ
    seq = np.arange(start, start + n, dtype=np.int64)
    counts = np.repeat(seq[:, None], len(CHANNELS[dev]), axis=1).astype(np.int32)
    return SampleBlock(dev, CHANNELS[dev], seq, seq / fs, counts)


def to_host(t: float) -> float:
    """Device time (s) to host time (s): a fixed offset, so wall times are deterministic."""
    return t + 50.0


def published(fwd: Forwarder) -> list[dict[str, Any]]:
    """The data frames queued for the relay (the forwarder taken as connected)."""
    return [f for f in (json.loads(m) for m in fwd._queue) if f["k"] == "d"]


def points(frames: list[dict[str, Any]]) -> dict[str, list[tuple[float, dict[str, Any]]]]:
    """Each device's points across the frames, in order: (wall time, {trace: value})."""
    out: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    for f in frames:
        for part in f.get("ds", [f]):
            for i, t in enumerate(part["t"]):
                values = {name: vs[i] for name, vs in part["tr"].items()}
                out.setdefault(part["dev"], []).append((t, values))
    return out


KIT_PHASE_S = 0.006
"""The grip's blocks arrive this long after the stylus's (the kits are not in step)."""


def arrivals(seconds: float) -> list[tuple[float, str, int, int]]:
    """Two kits' blocks as they come: (clock time, device, first sample, end), a 20 ms block
    per device, the grip's :data:`KIT_PHASE_S` after the stylus's."""
    out = []
    for k in range(round(seconds / 0.020)):
        for dev, fs, phase in (("stylus", STYLUS_HZ, 0.0), ("grip", GRIP_HZ, KIT_PHASE_S)):
            start, end = round(k * 0.020 * fs), round((k + 1) * 0.020 * fs)
            out.append((1000.0 + k * 0.020 + phase, dev, start, end))
    return out


def stream(
    fwd: Forwarder, clock: Clock, seconds: float, devs: tuple[str, ...] = ("stylus", "grip")
) -> list[tuple[float, str]]:
    """Feed ``seconds`` of the kits ``devs``, the clock moved to each block's arrival; return
    (clock time, device of the arriving block) for each block that sent a data frame."""
    sent_at = []
    for at, dev, start, end in arrivals(seconds):
        if dev not in devs:
            continue
        clock.now = at
        queued = len(fwd._queue)
        fwd.blocks(dev, [kit_block(dev, start, end - start)], CAL[dev], to_host)
        if len(fwd._queue) > queued:
            sent_at.append((at, dev))
    return sent_at


def decimated(dev: str, blocks: list[SampleBlock]) -> list[Any]:
    """The values a frame per block (unbatched, as before) shows of ``blocks``."""
    ref = new_forwarder(math.inf, Clock())
    for block in blocks:
        ref.blocks(dev, [block], CAL[dev], to_host)
    return [v for _t, vs in points(published(ref))[dev] for v in vs.values()]


def new_forwarder(frame_hz: float | None, clock: Clock) -> Forwarder:
    fwd = Forwarder(
        "http://127.0.0.1:9", PublishedSession.new("S-1"), frame_hz=frame_hz, clock=clock
    )
    fwd.connected = True  # queue frames as if the relay were there (nothing sends them)
    return fwd


def test_batched_frames_carry_every_decimated_point_once_and_in_order() -> None:
    clock = Clock()
    unbatched = new_forwarder(math.inf, clock)  # a frame per device per block, as before
    stream(unbatched, clock, 1.0)
    clock = Clock()
    batched = new_forwarder(None, clock)
    batched._wall_offset = unbatched._wall_offset  # the same host clock
    stream(batched, clock, 1.0)
    batched.flush()
    before, after = published(unbatched), published(batched)
    # A frame per device per 20 ms block, against at most FRAME_HZ a second per device.
    assert len(before) >= 95 and len(after) <= 2 * (FRAME_HZ * 1.0 + 1)
    # Every point, with its own time and values, exactly once and in order, per device.
    assert points(after) == points(before)
    stylus = [v["tip"] for _t, v in points(after)["stylus"]]
    # each 20 ms block's newest sample (the 4th of 200 Hz), no repeat
    assert stylus == list(range(3, 200, 4))
    assert all("ds" not in f for f in after)  # a frame holds one device's points
    for f in after:
        check_publisher(json.dumps(f), frozenset(CHANNELS), 64 * 1024)


def test_frames_keep_the_cadence_and_leave_with_the_arriving_block() -> None:
    clock = Clock()
    fwd = new_forwarder(None, clock)
    sent = stream(fwd, clock, 2.0)
    interval = 1.0 / FRAME_HZ
    frames = published(fwd)
    assert len(frames) == len(sent)  # each frame went with a block, none by the timer
    for dev in ("stylus", "grip"):
        mine = [at for at, d in sent if d == dev]
        # Never sooner than the interval; then with the device's next block (20 ms apart).
        gaps = np.diff(mine)
        assert gaps.min() >= interval - 1e-9 and gaps.max() <= interval + 0.020 + 1e-9
        assert len(mine) >= 2.0 * FRAME_HZ * 0.8
    # A frame holds the points of the device whose block sent it.
    for (_at, dev), frame in zip(sent, frames, strict=True):
        assert frame["dev"] == dev


def test_a_devices_frame_never_waits_for_the_other_device() -> None:
    """The stylus streams alone (the grip paired but quiet): its frames keep their cadence,
    each with a stylus block, as when both stream."""
    clock = Clock()
    fwd = new_forwarder(None, clock)
    alone = stream(fwd, clock, 1.0, devs=("stylus",))
    clock = Clock()
    both = [at for at, dev in stream(new_forwarder(None, clock), clock, 1.0) if dev == "stylus"]
    assert [at for at, _dev in alone] == both


def test_one_flush_of_a_long_backfill_is_split_in_order() -> None:
    clock = Clock()
    fwd = new_forwarder(1.0, clock)
    fwd.blocks("grip", [kit_block("grip", 0, 320)], CAL["grip"], to_host)  # sent at once
    fwd.blocks("grip", [kit_block("grip", 320, 320 * 60)], CAL["grip"], to_host)  # a minute
    fwd.blocks("stylus", [kit_block("stylus", 0, 200)], CAL["stylus"], to_host)
    fwd.flush()
    frames = published(fwd)
    parts = [p for f in frames[1:] for p in f.get("ds", [f])]
    assert all(sum(len(p["t"]) for p in f.get("ds", [f])) <= MAX_FRAME_POINTS for f in frames)
    grip = [v["force"] for _t, v in points(frames)["grip"]]
    assert grip == decimated("grip", [kit_block("grip", 0, 320 * 61)])
    # the stylus's first block went at once, not behind the grip's minute
    assert [p["dev"] for p in parts] == ["stylus"] + ["grip"] * (len(parts) - 1)
    for f in frames:
        check_publisher(json.dumps(f), frozenset(CHANNELS), 64 * 1024)


async def _viewer_frames(
    relay: Relay, s: PublishedSession, http: aiohttp.ClientSession
) -> aiohttp.ClientWebSocketResponse:
    ws = relay.url.replace("http", "ws")
    return await http.ws_connect(f"{ws}/ws/view/{s.session_id}?t={s.viewer_token}")


def _collect(
    got: list[dict[str, Any]], v: aiohttp.ClientWebSocketResponse
) -> Any:  # the reading task's coroutine
    async def read() -> None:
        async for m in v:
            f = json.loads(m.data)
            if f["k"] == "d":
                got.append(f)

    return read()


def test_the_timer_sends_the_last_points_of_a_stream_that_stops() -> None:
    async def main() -> None:
        async with Relay() as relay, aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-4")
            fwd = Forwarder(relay.url, s, devices=["grip"])
            await fwd.start()
            await eventually(lambda: fwd.connected and s.session_id in relay.sessions)
            v = await _viewer_frames(relay, s, http)
            await eventually(lambda: len(relay.sessions[s.session_id].viewers) == 1)
            got: list[dict[str, Any]] = []
            reader = asyncio.create_task(_collect(got, v))
            blocks = [kit_block("grip", 0, 32), kit_block("grip", 32, 32)]
            fwd.blocks("grip", blocks[:1], CAL["grip"], to_host)  # sent now
            fwd.blocks("grip", blocks[1:], CAL["grip"], to_host)  # waits for the interval
            # No block comes after it: the timer sends it (within about 75 ms).
            await eventually(lambda: len(got) == 2, 10.0)
            assert [v["force"] for _t, v in points(got)["grip"]] == decimated("grip", blocks)
            reader.cancel()
            await v.close()
            await fwd.close()

    run(main())


def test_close_sends_the_points_still_waiting() -> None:
    async def main() -> None:
        async with Relay() as relay, aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-5")
            fwd = Forwarder(relay.url, s, devices=["grip"], frame_hz=0.001)  # no timer flush
            await fwd.start()
            await eventually(lambda: fwd.connected and s.session_id in relay.sessions)
            v = await _viewer_frames(relay, s, http)
            await eventually(lambda: len(relay.sessions[s.session_id].viewers) == 1)
            got: list[dict[str, Any]] = []
            reader = asyncio.create_task(_collect(got, v))
            blocks = [kit_block("grip", 0, 32), kit_block("grip", 32, 320)]
            fwd.blocks("grip", blocks[:1], CAL["grip"], to_host)  # sent now
            await eventually(lambda: len(got) == 1)
            fwd.blocks("grip", blocks[1:], CAL["grip"], to_host)  # waits (for 1000 s)
            await fwd.close()
            await eventually(lambda: len(got) == 2)
            assert [v["force"] for _t, v in points(got)["grip"]] == decimated("grip", blocks)
            reader.cancel()
            await v.close()

    run(main())


def test_a_cadence_of_zero_is_refused() -> None:
    with pytest.raises(FinemotorError, match="frame_hz"):
        Forwarder("http://127.0.0.1:9", PublishedSession.new("S-1"), frame_hz=0.0)


def with_tiles(fwd: Forwarder) -> list[dict[str, Any]]:
    """The tiles queued for the relay, in order: each data frame's ``m`` or an ``m`` frame's."""
    frames = [json.loads(m) for m in fwd._queue]
    return [f["m"] if f["k"] == "d" else f["tiles"] for f in frames if "m" in f or f["k"] == "m"]


def test_live_tiles_ride_in_data_frames_at_most_twice_a_second_and_the_latest_always() -> None:
    clock = Clock()
    fwd = new_forwarder(None, clock)
    engine = GripEngine(CAL["grip"], GRIP_HZ, channels=CHANNELS["grip"])
    sent_at: list[float] = []
    snapshots = []
    for k in range(25):  # five snapshots a second for 5 s, as the live engines make them
        clock.now += 0.2
        block = kit_block("grip", k * 64, 64)
        engine.feed(block)
        snap = engine.snapshot()
        snapshots.append(json.dumps(tiles(snap), sort_keys=True))
        before = len(with_tiles(fwd))
        fwd.metrics("grip", snap)
        fwd.blocks("grip", [block], CAL["grip"], to_host)
        if len(with_tiles(fwd)) > before:
            sent_at.append(clock.now)
    assert 9 <= len(sent_at) <= 13  # about 2 a second, not 5
    assert all(b - a >= 1.0 / TILES_HZ - 1e-9 for a, b in itertools.pairwise(sent_at))
    frames = [json.loads(m) for m in fwd._queue]
    assert all(f["k"] == "d" for f in frames)  # no frame of their own while data flows
    run(fwd.close())  # the newest snapshot is never lost: close sends what waits
    assert json.dumps(with_tiles(fwd)[-1], sort_keys=True) == snapshots[-1]


def test_tiles_go_in_a_frame_of_their_own_when_no_data_frame_takes_them() -> None:
    async def main() -> None:
        fwd = new_forwarder(None, Clock())
        fwd._clock = asyncio.get_running_loop().time  # the timer's own clock
        fwd._loop = asyncio.get_running_loop()
        engine = GripEngine(CAL["grip"], GRIP_HZ, channels=CHANNELS["grip"])
        engine.feed(kit_block("grip", 0, 64))
        fwd.metrics("grip", engine.snapshot())  # the grip's data has stopped: no frame comes
        await eventually(lambda: len(with_tiles(fwd)) == 1, 5.0)
        (frame,) = [json.loads(m) for m in fwd._queue]
        assert frame["k"] == "m" and frame["dev"] == "grip"
        await fwd.close()

    run(main())


def test_the_relay_keeps_the_tiles_a_data_frame_carries_for_viewers_who_join() -> None:
    async def main() -> None:
        async with Relay() as relay, aiohttp.ClientSession() as http:
            s = PublishedSession.new("S-5")
            fwd = Forwarder(relay.url, s, devices=["grip"])
            await fwd.start()
            await eventually(lambda: fwd.connected and s.session_id in relay.sessions)
            engine = GripEngine(CAL["grip"], GRIP_HZ, channels=CHANNELS["grip"])
            block = kit_block("grip", 0, 64)
            engine.feed(block)
            fwd.metrics("grip", engine.snapshot())
            fwd.blocks("grip", [block], CAL["grip"], to_host)  # one data frame, tiles in it
            sess = relay.sessions[s.session_id]
            await eventually(lambda: ("m", "grip") in sess.latest)
            v = await _viewer_frames(relay, s, http)  # joins after: gets the tiles alone
            m = json.loads((await v.receive(timeout=10.0)).data)
            while m["k"] != "m":  # hello, status, then the kept tiles
                m = json.loads((await v.receive(timeout=10.0)).data)
            assert m["dev"] == "grip" and m["tiles"] == tiles(engine.snapshot())
            await v.close()
            await fwd.close()

    run(main())


@settings(max_examples=200, deadline=None)
@given(
    fs=st.sampled_from([80.0, 200.0, 320.0, 1000.0]),
    sizes=st.lists(st.integers(0, 400), min_size=1, max_size=40),
)
def test_display_points_keep_each_blocks_newest_and_the_display_rate(
    fs: float, sizes: list[int]
) -> None:
    """Each block's newest sample is shown unless a point already shown is less than a display
    interval before it; points are never closer than that interval; and a block's points are
    the same whether blocks come one at a time or together (a backfill)."""
    step = 1.0 / DISPLAY_HZ
    blocks, start = [], 0
    for n in sizes:
        seq = np.arange(start, start + n, dtype=np.int64)
        blocks.append(SampleBlock("grip", ("force",), seq, seq / fs, seq[:, None].astype(np.int32)))
        start += n
    one_by_one: list[float] = []
    next_t = -math.inf
    for block in blocks:
        got = display_points([block], CAL["grip"], next_t)
        if len(block):
            newest = float(block.t[-1])
            before = one_by_one[-1] if one_by_one else -math.inf
            assert (got.t[-1:] == [newest]) == (newest - before >= step - 1e-6)
        one_by_one += got.t
        next_t = got.next_t if got.next_t is not None else next_t
    assert np.all(np.diff(one_by_one) >= step - 1e-6)
    assert display_points(blocks, CAL["grip"]).t == one_by_one
    assert display_points(blocks, CAL["grip"]).traces.get("force", []) == [
        float(round(t * fs)) for t in one_by_one
    ]


def test_a_relay_reached_late_gets_the_latest_status_and_tiles_first() -> None:
    """What the desk had before the relay answered (a status, tiles) reaches the relay as soon
    as it does, after the hello; the display frames of then are gone (the page shows a gap)."""

    async def main() -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        s = PublishedSession.new("S-6")
        fwd = Forwarder(f"http://127.0.0.1:{port}", s, devices=["grip"])
        await fwd.start()  # nothing listens yet
        engine = GripEngine(CAL["grip"], GRIP_HZ, channels=CHANNELS["grip"])
        for k in range(3):
            block = kit_block("grip", k * 64, 64)
            engine.feed(block)
            fwd.status("grip", True, 90 - k, CAL["grip"])
            fwd.metrics("grip", engine.snapshot())
            fwd.blocks("grip", [block], CAL["grip"], to_host)
        assert not fwd.connected and fwd.dropped > 0
        async with Relay("127.0.0.1", port) as relay:
            await eventually(lambda: s.session_id in relay.sessions, 10.0)
            sess = relay.sessions[s.session_id]
            await eventually(lambda: {("s", "grip"), ("m", "grip")} <= set(sess.latest))
            status = json.loads(sess.latest[("s", "grip")])
            shown = json.loads(sess.latest[("m", "grip")])
            assert status["battery"] == 88  # the last of the three
            assert shown["tiles"] == tiles(engine.snapshot())
            await fwd.close()

    run(main(), 30)
