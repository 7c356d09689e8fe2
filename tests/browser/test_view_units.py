"""The therapist view tells the truth about units, caveats and the squeeze under way.

A relay and a forwarder run on their own event loop; the forwarder publishes an uncalibrated
dynamometer's blocks and live metrics during a squeeze that started before the recording and
then a second squeeze in progress, as a session would; the page, in headless Chromium, must
title the chart in raw readings, show the squeeze in progress with its running peak, never
say a threshold was never reached, and show each caveat.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bench.chromium import CHROMIUM

from finemotor.calibration import DeviceCalibration
from finemotor.forwarder import Forwarder
from finemotor.metrics import GripEngine
from finemotor.relay import PublishedSession, Relay
from finemotor.samples import SampleBlock

pytest.importorskip("playwright.sync_api", reason="install the dev extras")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)"
    ),
]

FS = 320.0
COUNTS_PER_N = 4_380.0  # the reference dynamometer's nominal scale


class Publisher:
    """A relay and a forwarder on an event loop in a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.relay = Relay("127.0.0.1", 0)
        self.call(self.relay.start())
        self.session = PublishedSession.new("S-0777")
        self.fwd = Forwarder(self.relay.url, self.session)
        self.call(self.fwd.start())
        # display frames sent before the relay answers are dropped (the page would show a
        # gap): publish once the forwarder is connected, as the test's frames must all arrive
        deadline = time.monotonic() + 30.0
        while not self.fwd.connected:
            assert time.monotonic() < deadline, "the forwarder did not connect to the relay"
            time.sleep(0.02)

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def do(self, fn: Any) -> None:
        async def run() -> None:
            fn()

        self.call(run())

    def close(self) -> None:
        self.call(self.fwd.close())
        self.call(self.relay.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def force_n(t: np.ndarray) -> np.ndarray:
    """120 N held from before the recording until 1.5 s; a second squeeze rising from 4 s."""
    first = np.where(t < 1.5, 120.0, 0.0)
    second = 90.0 * (0.5 - 0.5 * np.cos(np.pi * np.clip((t - 4.0) / 0.6, 0, 1)))
    return first + second


def test_uncalibrated_grip_units_caveats_and_squeeze_tile(browser: Any) -> None:
    pub = Publisher()
    try:
        cal = DeviceCalibration.uncalibrated(1)
        engine = GripEngine(cal, FS)
        page = browser.new_page()
        page.goto(pub.relay.url + pub.session.view_path())

        def publish(t0: float, t1: float) -> None:
            t = np.arange(round(t0 * FS), round(t1 * FS)) / FS
            counts = np.round(force_n(t) * COUNTS_PER_N).astype(np.int32)[:, None]
            block = SampleBlock("grip", ("force",), np.arange(t.shape[0]), t, counts)
            pub.fwd.status("grip", True, 90, cal)
            pub.fwd.blocks("grip", [block], cal)
            engine.feed(block)
            pub.fwd.metrics("grip", engine.snapshot())

        # the first squeeze was under way when the recording began
        pub.do(lambda: publish(0.0, 1.0))
        wait = page.wait_for_function
        wait("() => document.getElementById('tile-grip-squeeze') !== null", timeout=20_000)
        cap = page.locator("#cap-force")
        assert "raw readings" in cap.inner_text() and "(N)" not in cap.inner_text()
        squeeze = page.locator("#tile-grip-squeeze")
        assert "started before the recording" in squeeze.inner_text()
        assert "never reached" not in page.locator("#tiles").inner_text()

        # released, then a second squeeze rising: in progress, with its running peak in raw
        pub.do(lambda: publish(1.0, 4.45))
        wait(
            "() => document.getElementById('tile-grip-squeeze').innerText"
            ".includes('squeeze in progress')",
            timeout=10_000,
        )
        text = page.locator("#tiles").inner_text()
        assert "never reached" not in text
        value = float(squeeze.get_attribute("data-value") or "nan")
        assert 0.5 * 90 * COUNTS_PER_N < value <= 90.0 * COUNTS_PER_N * 1.01
        assert "not calibrated" in squeeze.inner_text()  # the caveat reaches the page
        peak = page.locator("#tile-grip-peak")  # no trial yet: says why, with no number
        assert "–" in peak.inner_text() and "squeeze in progress" in peak.inner_text()
    finally:
        pub.close()
