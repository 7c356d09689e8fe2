"""The therapist view: end-to-end latency in the page, and the relay's fan-out capacity.

Latency: the simulated kits (real firmware under MicroPython, virtual radio) stream through
the demo's pipeline to an in-process relay; headless Chromium opens the viewer link. The page
measures, for each chart redraw, its own clock when uPlot has drawn minus the host time of the
newest point's device tick (mapped through the kit's time sync). So it includes the kit's
batching, the radio, decoding, the forwarder, the relay, the WebSocket, the page's frame
scheduling (requestAnimationFrame) and uPlot's drawing. It is measured twice in one run, the
two settings alternating so both see the same machine: the forwarder sending a frame per
device per kit block (``FRAME_HZ = inf``, as before batching) and batched (``FRAME_HZ``); the
page also counts the data frames and all messages it receives per second.

Fan-out: a standalone relay (``finemotor relay``, its own process) takes S publishers, each
sending what a two-kit session sent before batching (a stylus and a grip frame every 20 ms:
100 frames/s, a harder load than today's; bench_relay_cost has both shapes), and V viewers
per session, all in this process; a viewer's latency is its receive time minus
the frame's send time. The relay "keeps" S×V when p95 stays under 100 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

import aiohttp
import numpy as np

from bench.chromium import CHROMIUM, chromium_context
from finemotor import forwarder
from finemotor.demo import DemoOptions, run_demo
from finemotor.relay import PublishedSession

LATENCY_S = 20.0
LEVELS = ((1, 1), (1, 10), (5, 5), (5, 10), (10, 10), (10, 20), (20, 20), (20, 40), (40, 40))
LEVEL_S = 4.0
LATENCY_RUNS = 2
"""Page runs per forwarder setting, the settings alternating (same machine, same load)."""


@dataclass
class PageRun:
    """What the page measured in one run: latencies (ms) of its redraws, and the data frames
    and all messages it received per second."""

    lat: list[float]
    frames_per_s: float
    messages_per_s: float


def page_latency(seconds: float = LATENCY_S, frame_hz: float | None = None) -> PageRun:
    """Run the demo with the page open in Chromium; return the page's latencies (ms) and the
    frames it received per second.

    Args:
        seconds: the demo's length (s); the page measures for 60 % of it, after a warm-up.
        frame_hz: the forwarder's data frames per second (``math.inf``: a frame per device
            per kit block, as before batching); default :data:`finemotor.forwarder.FRAME_HZ`.
    """
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    url: Future[str] = Future()
    opts = DemoOptions(seconds=seconds, on_view=url.set_result)
    default_hz = forwarder.FRAME_HZ
    if frame_hz is not None:  # read by the Forwarder the demo makes
        forwarder.FRAME_HZ = frame_hz
    report = asyncio.run_coroutine_threadsafe(run_demo(opts), loop)
    try:
        with chromium_context() as ctx:
            page = ctx.new_page()
            link = url.result(60)
            for _ in range(5):  # the link can come a moment before the relay serves it
                answer = page.goto(link)
                if answer is not None and answer.ok:
                    break
                print(f"(the view answered {answer.status if answer else 'nothing'}; again)")
                page.wait_for_timeout(1000)
            page.wait_for_function("() => window.__fm && window.__fm.drawn > 50", timeout=60_000)
            page.evaluate("() => { window.__fm.lat.length = 0; }")  # drop the warm-up
            counts = "() => [window.__fm.frames, window.__fm.messages]"
            frames0, messages0 = page.evaluate(counts)
            t0 = time.monotonic()
            deadline = t0 + seconds * 0.6
            while time.monotonic() < deadline and not report.done():
                page.wait_for_timeout(500)
            frames1, messages1 = page.evaluate(counts)
            elapsed = time.monotonic() - t0
            lat: list[float] = page.evaluate("window.__fm.lat")
        try:
            report.result(120)
        except Exception as exc:  # the latency figures stand; say what the demo reported
            print(f"(the demo itself ended with an error: {exc!r})")
    finally:
        loop.call_soon_threadsafe(loop.stop)
        forwarder.FRAME_HZ = default_hz
    return PageRun(lat, (frames1 - frames0) / elapsed, (messages1 - messages0) / elapsed)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _level(
    base: str, sessions: int, viewers: int, seconds: float
) -> tuple[list[float], float]:
    """Return the viewers' latencies (ms) and the share of sent frames they received."""
    lat: list[float] = []
    sent = [0]
    stop = asyncio.Event()
    ws_base = base.replace("http", "ws")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        pubs, views = [], []
        for _ in range(sessions):
            s = PublishedSession.new("bench")
            headers = s.publisher_headers()
            pub = await http.ws_connect(f"{ws_base}/ws/publish/{s.session_id}", headers=headers)
            await pub.send_str(
                json.dumps({"k": "hello", "student": s.student, "devs": ["stylus", "grip"]})
            )
            pubs.append(pub)
            for _ in range(viewers):
                views.append(
                    await http.ws_connect(f"{ws_base}/ws/view/{s.session_id}?t={s.viewer_token}")
                )

        async def publish(ws: aiohttp.ClientWebSocketResponse) -> None:
            n = 0
            while not stop.is_set():
                dev, tr = (
                    ("stylus", '{"tip":[1.234],"barrel":[2.345]}')
                    if n % 2
                    else ("grip", '{"force":[123.456]}')
                )
                now = time.time() * 1000.0
                await ws.send_str(f'{{"k":"d","dev":"{dev}","t":[{now:.3f}],"tr":{tr}}}')
                n += 1
                sent[0] += 1
                await asyncio.sleep(0.01)

        async def view(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                f = json.loads(msg.data)
                if f.get("k") == "d":
                    lat.append(time.time() * 1000.0 - f["t"][0])

        tasks = [asyncio.create_task(publish(p)) for p in pubs]
        tasks += [asyncio.create_task(view(v)) for v in views]
        await asyncio.sleep(seconds)
        stop.set()
        for t in tasks:
            t.cancel()
        for ws in pubs + views:
            with contextlib.suppress(Exception):
                await ws.close()
    share = len(lat) / max(1, sent[0] * viewers)
    skip = len(lat) // 10  # the connection burst
    return lat[skip:], share


def fan_out() -> list[tuple[int, int, float, float, float]]:
    """Return (sessions, viewers per session, p50 ms, p95 ms, share of frames delivered) per
    level, until p95 passes 100 ms."""
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "finemotor", "relay", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    out: list[tuple[int, int, float, float, float]] = []
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # "relay listening on ..."
        for sessions, viewers in LEVELS:
            try:
                lat, share = asyncio.run(
                    _level(f"http://127.0.0.1:{port}", sessions, viewers, LEVEL_S)
                )
            except TimeoutError:  # the relay could not even take the connections
                out.append((sessions, viewers, float("inf"), float("inf"), 0.0))
                break
            arr = np.asarray(lat)
            p50, p95 = float(np.percentile(arr, 50)), float(np.percentile(arr, 95))
            out.append((sessions, viewers, p50, p95, share))
            if p95 > 100.0 or share < 0.9:
                break
    finally:
        proc.terminate()
        proc.wait(10)
    return out


def main() -> None:
    """Print the page's latency percentiles and the relay's fan-out levels."""
    if os.path.exists(CHROMIUM):
        settings = (("a frame per device per kit block", math.inf), ("batched", forwarder.FRAME_HZ))
        runs: dict[str, list[PageRun]] = {name: [] for name, _ in settings}
        for _ in range(LATENCY_RUNS):
            for name, hz in settings:
                runs[name].append(page_latency(frame_hz=hz))
        for name, hz in settings:
            lat = np.concatenate([np.asarray(r.lat) for r in runs[name]])
            p50s = ", ".join(f"{np.percentile(r.lat, 50):.0f}" for r in runs[name])
            p95s = ", ".join(f"{np.percentile(r.lat, 95):.0f}" for r in runs[name])
            fps = np.median([r.frames_per_s for r in runs[name]])
            mps = np.median([r.messages_per_s for r in runs[name]])
            print(
                f"device tick to point drawn in the page (Chromium, uPlot), {name} "
                f"(FRAME_HZ {hz:g}): p50 {np.percentile(lat, 50):.0f} ms, "
                f"p95 {np.percentile(lat, 95):.0f} ms ({lat.size} redraws in "
                f"{len(runs[name])} runs; per run p50 {p50s}, p95 {p95s} ms); "
                f"{fps:.0f} data frames/s, {mps:.0f} messages/s per viewer"
            )
    else:
        print(f"page latency: skipped ({CHROMIUM} is missing)")
    kept = 0
    for s, v, p50, p95, share in fan_out():
        ok = p95 <= 100.0 and share >= 0.99
        kept = max(kept, s * v) if ok else kept
        print(
            f"relay fan-out {s} sessions × {v} viewers (100 frames/s per session): "
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, {share * 100:.1f} % of frames delivered"
            f"{'' if ok else ' (not kept)'}",
            flush=True,
        )
    print(f"relay fan-out kept (p95 ≤ 100 ms, ≥ 99 % delivered): {kept} viewer streams")
