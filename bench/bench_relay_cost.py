"""The relay's CPU time per data frame, stage by stage: where a live session's cost goes.

The frames are the forwarder's own (a real :class:`~finemotor.forwarder.Forwarder` fed two
kits' blocks on a simulated clock: a 200 Hz stylus with two barrel pads and a 320 Hz grip,
calibrated, a 20 ms block per device, the two kits out of phase), in two shapes:

- **per block** (``frame_hz=inf``, the forwarder before batching): a frame per device per kit
  block, 100 frames/s for the session;
- **batched** (:data:`~finemotor.forwarder.FRAME_HZ`): a frame per device at most that many
  times a second, with the device's own block.

Each stage is timed on its own, as CPU time of this process (``time.process_time``) over many
frames, the median of several runs:

- **receive**: the relay's side of a publisher's WebSocket (aiohttp's reader and the
  ``async for msg in ws`` that gives each message to the handler), the frames sent by a client
  in another process, one at a time (each its own read, as at a publisher's pace);
- **rate limits**: the session's and the address's token buckets (``relay/limits.py``);
- **parse + check**: :func:`~finemotor.relay.frames.check_publisher` (JSON parse and the
  vocabulary's checks);
- **wake-up, per viewer**: the relay's own viewer queue and task (``_Viewer.offer`` then its
  ``pump`` woken, with ``_Peer.send``'s deadline), on a socket that costs nothing;
- **send, per viewer**: aiohttp's ``send_str`` to a viewer's real socket (a client in another
  process reading), one frame at a time (each its own write, as at a publisher's pace).

The metric tiles ride in the data frames (at most 2 a second per device) and the status
(``s``) goes out when it changes, in either shape; whatever ``m`` and ``s`` frames the
forwarder sends on their own are timed the same way. A session's cost is, over its frames of
every kind, frames/s × (receive + limits + check + viewers × (wake-up + send)), and "sessions
per core" is one second of CPU divided by it: the relay's frame path only (no TLS, no
heartbeats, no cached frames for joining viewers).

**End to end**, as a check on that sum: a standalone relay process (``finemotor relay``) takes
:data:`E2E_SESSIONS` sessions of 1 or 2 viewers, each publisher replaying the forwarder's
frames at the times it sent them (the sessions out of step), the clients in this process; the
relay process's own CPU time (``/proc``) per session-second, everything included (aiohttp's
heartbeats, the event loop, the rate limits, the cache of ``m`` and ``s`` frames).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web

from bench.services import finemotor_service
from finemotor.calibration.model import ChannelCalibration, DeviceCalibration
from finemotor.forwarder import FRAME_HZ, Forwarder
from finemotor.metrics import GripEngine, PenEngine
from finemotor.relay import PublishedSession
from finemotor.relay.frames import check_publisher
from finemotor.relay.limits import Bucket, KeyedBuckets, RelayLimits
from finemotor.relay.server import _Viewer
from finemotor.samples import SampleBlock

RUNS = 5
"""Runs per stage; the median is printed."""
FRAMES = 2000
"""Frames per run of the socket stages."""
STREAM_S = 10.0
"""Seconds of simulated kit stream the frames are made of."""
VIEWERS = (1, 2)
"""Viewers per session in the per-session figures (a real session has one or two)."""
_KIT_PHASE_S = 0.007
"""The grip kit's blocks arrive this long after the stylus's (the kits are not in step)."""
E2E_SESSIONS = 40
"""Sessions on the standalone relay of the end-to-end check."""
E2E_S = 5.0
"""Seconds each end-to-end run measures the relay's CPU over."""
_PACE_S = 0.0005
"""The pause (s) between two frames in the socket stages: each frame its own read or write."""
_DEVICES = frozenset({"stylus", "grip"})
_TIMELINES: dict[float, list[tuple[float, str]]] = {}
"""Each forwarder setting's frames with the time (s) it sent them, made by kit_frames()."""
_MAX_BYTES = RelayLimits().max_msg_bytes

_CLIENT = r"""
import asyncio, sys, aiohttp
url, mode, n, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
frames = open(path).read().split("\n")
async def main():
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        if mode == "send":
            for i in range(n):
                await ws.send_str(frames[i % len(frames)])
                await asyncio.sleep(float(sys.argv[5]))
        else:
            got = 0
            async for _ in ws:
                got += 1
                if got == n:
                    break
        await ws.receive()  # the server closes
asyncio.run(main())
"""


def kit_frames(frame_hz: float, seconds: float = STREAM_S) -> dict[str, list[str]]:
    """The frames a forwarder at ``frame_hz`` sends for ``seconds`` of two kits, by kind:
    data (``d``), the metric tiles (``m``, 5 a second per device, from the live engines) and
    the status (``s``, once a second per device, as the demo and the desk send it)."""
    clock = [0.0]
    fwd = Forwarder(
        "http://127.0.0.1:9",
        PublishedSession.new("S-1"),
        frame_hz=frame_hz,
        clock=lambda: clock[0],
    )
    fwd.connected = True  # queue the frames: nothing sends them
    fwd._queue = type(fwd._queue)()  # unbounded: keep every frame
    rng = np.random.default_rng(1)
    lin = ChannelCalibration("linear", 0, (1e-4,))
    kits = {
        "stylus": (200.0, ("tip", "barrel_a", "barrel_b"), 0.0),
        "grip": (320.0, ("force",), _KIT_PHASE_S),
    }
    arrivals = sorted(
        (k * 0.020 + phase, dev)
        for dev, (_fs, _ch, phase) in kits.items()
        for k in range(round(seconds / 0.020))
    )
    cals = {dev: DeviceCalibration(1, tuple(lin for _ in ch)) for dev, (_f, ch, _p) in kits.items()}
    engines: dict[str, PenEngine | GripEngine] = {
        "stylus": PenEngine(cals["stylus"], 200.0),
        "grip": GripEngine(cals["grip"], 320.0),
    }
    done = dict.fromkeys(kits, 0)
    timeline: list[tuple[float, str]] = []
    for at, dev in arrivals:
        fs, channels, phase = kits[dev]
        end = round((at - phase + 0.020) * fs)
        seq = np.arange(done[dev], end, dtype=np.int64)
        t = seq / fs
        counts = (30_000 + 20_000 * np.sin(2 * np.pi * 0.5 * t))[:, None] + rng.normal(
            0, 300, (len(seq), len(channels))
        )
        block = SampleBlock(dev, channels, seq, t, counts.astype(np.int32))
        clock[0] = at
        snap = engines[dev].feed(block)
        if snap is not None:
            fwd.metrics(dev, snap)
        if done[dev] // fs != end // fs:  # a new second
            fwd.status(dev, True, 80, cals[dev])
        fwd.blocks(dev, [block], cals[dev], lambda t: t)
        done[dev] = end
        timeline.extend((at, msg) for msg in list(fwd._queue)[len(timeline) :])
    fwd.flush()
    timeline.extend((seconds, msg) for msg in list(fwd._queue)[len(timeline) :])
    out: dict[str, list[str]] = {"d": [], "m": [], "s": []}
    for _at, msg in timeline:
        out[json.loads(msg)["k"]].append(msg)
    _TIMELINES[frame_hz] = timeline
    return out


def _cpu_us_per(n: int, run: Callable[[], Any]) -> float:
    """CPU time (µs) of ``run()`` divided by ``n``."""
    t0 = time.process_time()
    run()
    return (time.process_time() - t0) / n * 1e6


def _median(f: Callable[[], float]) -> float:
    return statistics.median(f() for _ in range(RUNS))


def check_us(frames: list[str]) -> float:
    """Parse and check one frame (µs)."""
    n = 20_000

    def run() -> None:
        for i in range(n):
            check_publisher(frames[i % len(frames)], _DEVICES, _MAX_BYTES)

    return _median(lambda: _cpu_us_per(n, run))


def limits_us() -> float:
    """Both token buckets' ``take`` for one frame (µs)."""
    n = 100_000
    session = Bucket(1e9, 1e9)
    address = KeyedBuckets(1e9, 1e9)

    def run() -> None:
        for _ in range(n):
            session.take()
            address.take("127.0.0.1")

    return _median(lambda: _cpu_us_per(n, run))


async def _socket_stage(mode: str, frames: list[str]) -> float:
    """CPU time (µs) per frame of the relay's side of a socket: ``recv`` takes frames a
    client sends; ``send`` sends them to a client that reads."""
    cpu: list[float] = []
    done = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=_MAX_BYTES)
        await ws.prepare(request)
        if mode == "send":
            # Each frame in its own loop iteration, at a publisher's pace (so each is its own
            # write, as in the relay, not one write of many frames buffered together); the
            # pacing's own cost, measured first without sending, is taken off.
            await asyncio.sleep(0.2)  # the client is reading
            t0 = time.process_time()
            for _ in range(FRAMES):
                await asyncio.sleep(_PACE_S)
            pacing = time.process_time() - t0
            t0 = time.process_time()
            for i in range(FRAMES):
                await ws.send_str(frames[i % len(frames)])
                await asyncio.sleep(_PACE_S)
            cpu.append(time.process_time() - t0 - pacing)
        else:
            got, t0 = 0, 0.0
            async for _msg in ws:
                got += 1
                if got == 1:
                    t0 = time.process_time()  # from the first: the connection is set up
                if got == FRAMES:
                    cpu.append(time.process_time() - t0)
                    break
        done.set()
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(frames))
    try:
        client = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CLIENT,
            f"ws://127.0.0.1:{port}/ws",
            "send" if mode == "recv" else "recv",  # the client's side of it
            str(FRAMES),
            f.name,
            str(_PACE_S),
            stderr=subprocess.DEVNULL,
        )
        async with asyncio.timeout(120):
            await done.wait()
            await client.wait()
    finally:
        await runner.cleanup()
        Path(f.name).unlink()
    n = FRAMES - 1 if mode == "recv" else FRAMES
    return cpu[0] / n * 1e6


def socket_us(mode: str, frames: list[str]) -> float:
    """The median over :data:`RUNS` of :func:`_socket_stage` (µs per frame)."""
    return _median(lambda: asyncio.run(_socket_stage(mode, frames)))


class _FreeSocket:
    """A viewer's socket that takes every frame at once, at no cost."""

    async def send_str(self, msg: str) -> None:
        """Take ``msg``."""


async def _wake_stage(frames: list[str], viewers: int) -> float:
    """CPU time (s) to offer :data:`FRAMES` frames to ``viewers`` viewers, each frame in its
    own loop iteration, and let each viewer's task send it."""
    limits = RelayLimits()
    pumps = []
    vs = []
    for _ in range(viewers):
        v = _Viewer(_FreeSocket(), SimpleNamespace(transport=None), limits)  # type: ignore[arg-type]
        vs.append(v)
        pumps.append(asyncio.create_task(v.pump()))
    await asyncio.sleep(0)
    t0 = time.process_time()
    for i in range(FRAMES):
        msg = frames[i % len(frames)]
        for v in vs:
            v.offer(msg)
        await asyncio.sleep(0)  # the next frame comes in another loop iteration
    cpu = time.process_time() - t0
    for p in pumps:
        p.cancel()
    await asyncio.gather(*pumps, return_exceptions=True)
    return cpu


def wake_us(frames: list[str]) -> float:
    """Per viewer and frame (µs): offer, task wake-up, pump and ``_Peer.send``'s deadline;
    the loop's own iteration (measured without viewers) taken off."""

    def once() -> float:
        base = asyncio.run(_wake_stage(frames, 0))
        four = asyncio.run(_wake_stage(frames, 4))
        return (four - base) / (4 * FRAMES) * 1e6

    return _median(once)


def _cpu_s(pid: int) -> float:
    """CPU time (s, user + system) a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _relay_load(
    port: int, pid: int, timeline: list[tuple[float, str]], viewers: int
) -> float:
    """Run :data:`E2E_SESSIONS` sessions with ``viewers`` viewers each against the relay at
    ``port``, each publisher sending ``timeline`` at its own times (the sessions out of step);
    return the relay's CPU time (µs) per session-second."""
    ws = f"ws://127.0.0.1:{port}"
    rng = np.random.default_rng(2)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        pubs, views = [], []
        for _ in range(E2E_SESSIONS):
            s = PublishedSession.new("bench")
            pub = await http.ws_connect(
                f"{ws}/ws/publish/{s.session_id}", headers=s.publisher_headers()
            )
            hello = {"k": "hello", "student": s.student, "devs": sorted(_DEVICES)}
            await pub.send_str(json.dumps(hello))
            pubs.append(pub)
            for _ in range(viewers):
                views.append(
                    await http.ws_connect(f"{ws}/ws/view/{s.session_id}?t={s.viewer_token}")
                )

        async def drain(v: aiohttp.ClientWebSocketResponse) -> None:
            async for _msg in v:
                pass

        readers = [asyncio.create_task(drain(v)) for v in views]
        period = timeline[-1][0]
        events = sorted(
            ((at + off) % period, i, msg)
            for i, off in enumerate(rng.uniform(0, period, E2E_SESSIONS))
            for at, msg in timeline
            if (at + off) % period < E2E_S
        )
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0.5)  # the connections settle
        cpu0, start = _cpu_s(pid), loop.time()
        for at, i, msg in events:
            delay = start + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await pubs[i].send_str(msg)
        elapsed, cpu = loop.time() - start, _cpu_s(pid) - cpu0
        for t in readers:
            t.cancel()
        for w in pubs + views:
            await w.close()
    return cpu / (E2E_SESSIONS * elapsed) * 1e6


def end_to_end(viewers: int, frame_hz: float) -> float:
    """A standalone relay process (``finemotor relay``) under :data:`E2E_SESSIONS` sessions:
    its CPU time (µs) per session-second, the median of :data:`RUNS` runs (a new relay each,
    so no run meets the registration limit another left)."""
    timeline = _TIMELINES[frame_hz]

    def once() -> float:
        with finemotor_service(["relay"]) as (proc, port):
            return asyncio.run(_relay_load(port, proc.pid, timeline, viewers))

    return _median(once)


def _points(frame: str) -> int:
    """Points in a data frame (each device's ``t``; 0 for other frames)."""
    obj = json.loads(frame)
    return sum(len(p.get("t", ())) for p in obj.get("ds", [obj]))


def main() -> None:
    """Print the relay's µs per frame per stage, and per session-second, before and after
    batching."""
    cadences = {"per block": kit_frames(math.inf), f"batched {FRAME_HZ:g}/s": kit_frames(FRAME_HZ)}
    shapes = {
        f"{kind} {cadence}": frames
        for cadence, by_kind in cadences.items()
        for kind, frames in by_kind.items()
        if frames
    }
    rows: dict[str, dict[str, float]] = {}
    for name, frames in shapes.items():
        rows[name] = {
            "frames/s": len(frames) / STREAM_S,
            "bytes": float(np.mean([len(f) for f in frames])),
            "points": float(np.mean([_points(f) for f in frames])),
            "receive": socket_us("recv", frames),
            "limits": limits_us(),
            "check": check_us(frames),
            "wake": wake_us(frames),
            "send": socket_us("send", frames),
        }
    names = list(shapes)
    print(f"relay CPU per frame (µs, median of {RUNS} runs; {STREAM_S:g} s of two kits):")
    print(f"  {'':34}" + "".join(f"{n:>17}" for n in names))
    lines = (
        ("frames/s per session", "frames/s", "{:.1f}"),
        ("bytes per frame", "bytes", "{:.0f}"),
        ("points per frame (t values)", "points", "{:.1f}"),
        ("WebSocket receive", "receive", "{:.1f}"),
        ("rate limits (2 buckets)", "limits", "{:.1f}"),
        ("JSON parse + check_publisher", "check", "{:.1f}"),
        ("per viewer: queue + task wake-up", "wake", "{:.1f}"),
        ("per viewer: send_str", "send", "{:.1f}"),
    )
    for label, key, fmt in lines:
        print(f"  {label:34}" + "".join(f"{fmt.format(rows[n][key]):>17}" for n in names))
    sessions = {
        when: [n for n in names if n.endswith(cadence)]
        for when, cadence in zip(("before", "after"), cadences, strict=True)
    }
    for v in VIEWERS:
        cost: dict[str, float] = {}
        for when, kinds in sessions.items():
            cost[when] = sum(
                rows[n]["frames/s"]
                * (
                    rows[n]["receive"]
                    + rows[n]["limits"]
                    + rows[n]["check"]
                    + v * (rows[n]["wake"] + rows[n]["send"])
                )
                for n in kinds
            )
        msgs = {w: sum(rows[n]["frames/s"] for n in k) for w, k in sessions.items()}
        print(
            f"  a session with {v} viewer{'s' * (v > 1)} (d + m + s frames): "
            f"before {msgs['before']:.0f} messages/s, {cost['before']:.0f} µs CPU/s, "
            f"{1e6 / cost['before']:.0f} sessions per core; after {msgs['after']:.0f} "
            f"messages/s, {cost['after']:.0f} µs CPU/s, {1e6 / cost['after']:.0f} sessions "
            f"per core (×{cost['before'] / cost['after']:.1f})"
        )
    for v in VIEWERS:
        us = {hz: end_to_end(v, hz) for hz in (math.inf, FRAME_HZ)}
        print(
            f"  end to end, a relay process with {E2E_SESSIONS} sessions × {v} viewer"
            f"{'s' * (v > 1)}: before {us[math.inf]:.0f} µs CPU per session-second "
            f"({1e6 / us[math.inf]:.0f} sessions per core), after {us[FRAME_HZ]:.0f} "
            f"({1e6 / us[FRAME_HZ]:.0f} sessions per core; ×{us[math.inf] / us[FRAME_HZ]:.1f})",
            flush=True,
        )
