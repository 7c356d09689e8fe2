"""The relay's memory under a flood: RSS of a standalone ``finemotor relay`` process before and
after 20,000 hostile frames sent to one session that a viewer is watching.

The flood mixes what once grew the relay without bound: metrics frames for 10,000 distinct
device names (each closes that publisher's socket; it reconnects and goes on), and 10,000 data
frames of 60 KB (rate-limited and queued for a viewer that never reads). The relay must stay
flat: its cache holds only the declared devices, and each viewer's queue is capped in bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import aiohttp

from bench.services import finemotor_service
from finemotor.relay import PublishedSession

FRAMES = 20_000
PUBLISHERS = 8


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


async def _flood(base: str) -> dict[str, int]:
    s = PublishedSession.new("S-BENCH")
    headers = s.publisher_headers()
    ws = base.replace("http", "ws")
    hello = json.dumps({"k": "hello", "student": s.student, "devs": ["grip"]})
    big = json.dumps(
        {"k": "d", "dev": "grip", "t": [0.0], "tr": {"force": [1.0]}, "pad": "x" * 60_000}
    )
    counts = {"sent": 0, "reconnects": 0}
    async with aiohttp.ClientSession() as http:
        first = await http.ws_connect(f"{ws}/ws/publish/{s.session_id}", headers=headers)
        await first.send_str(hello)
        # A viewer that never reads: whatever the relay queues for it stays queued.
        stuck = await http.ws_connect(f"{ws}/ws/view/{s.session_id}?t={s.viewer_token}")
        todo = list(range(FRAMES))

        async def publisher() -> None:
            pub = None
            while todo:
                n = todo.pop()
                if pub is None or pub.closed:
                    pub = await http.ws_connect(f"{ws}/ws/publish/{s.session_id}", headers=headers)
                    await pub.send_str(hello)
                    counts["reconnects"] += 1
                if n % 2:  # a new device name each time, each frame 8 KB
                    frame = {"k": "m", "dev": f"dev{n}", "tiles": {"x": {"label": "y" * 8000}}}
                    msg = json.dumps(frame)
                else:
                    msg = big
                try:
                    await pub.send_str(msg)
                    counts["sent"] += 1
                except ConnectionError:
                    todo.append(n)
                    pub = None
                await asyncio.sleep(0)
            if pub is not None:
                await pub.close()

        await asyncio.gather(*(publisher() for _ in range(PUBLISHERS)))
        with contextlib.suppress(Exception):
            await stuck.close()
        await first.close()
    return counts


def _once() -> tuple[float, float, float, dict[str, int], float]:
    with finemotor_service(["relay"]) as (proc, port):
        time.sleep(1.0)
        before = _rss_mb(proc.pid)
        t0 = time.monotonic()
        counts = asyncio.run(_flood(f"http://127.0.0.1:{port}"))
        took = time.monotonic() - t0
        during = _rss_mb(proc.pid)
        time.sleep(2.0)
        after = _rss_mb(proc.pid)
    return before, during, after, counts, took


def main() -> None:
    """Print the relay's RSS before and after the flood (3 runs, each on a fresh relay), and
    the median growth."""
    grew = []
    for run in range(3):
        before, during, after, counts, took = _once()
        grew.append(after - before)
        print(
            f"run {run + 1}: {counts['sent']} frames ({counts['reconnects']} reconnections, "
            f"{took:.1f} s): RSS before {before:.1f} MB, right after {during:.1f} MB, "
            f"2 s later {after:.1f} MB (+{after - before:.1f})"
        )
    print(f"median relay RSS growth over a {FRAMES}-frame flood: {sorted(grew)[1]:+.1f} MB")


if __name__ == "__main__":
    main()
