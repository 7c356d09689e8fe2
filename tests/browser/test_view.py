"""The therapist view in real headless Chromium, fed by the simulated kits end to end.

One simulated session (both kits, real firmware under MicroPython, virtual radio) publishes to
a relay run in a background thread; the page must load with the viewer link, draw points,
update the tiles, get a marked event into the session's record (the demo's report), refuse a
bad token with 404, and recover after the relay restarts.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from bench.chromium import CHROMIUM

from finemotor.demo import DemoOptions, run_demo
from finemotor.relay import Relay
from finemotor.relay.server import UPLOT_FILES, VENDOR_DIR

pytest.importorskip("playwright.sync_api", reason="install the dev extras")
pytestmark = [
    pytest.mark.slow,  # a simulated session in real time, watched in Chromium
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)"
    ),
    pytest.mark.skipif(
        not all((VENDOR_DIR / f).is_file() for f in UPLOT_FILES),
        reason="needs uPlot in relay/static/vendor (make setup fetches it from npm)",
    ),
]


class Session:
    """A relay and a simulated session on their own event loop in a thread."""

    def __init__(self, seconds: float) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.relay = Relay("127.0.0.1", 0)
        self.call(self.relay.start())
        self.view_url: Future[str] = Future()
        opts = DemoOptions(
            seconds=seconds, relay_url=self.relay.url, on_view=self.view_url.set_result
        )
        self.report = asyncio.run_coroutine_threadsafe(run_demo(opts), self.loop)

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def restart_relay(self) -> None:
        async def restart() -> None:
            await self.relay.stop()
            await asyncio.sleep(0.5)
            self.relay = Relay("127.0.0.1", self.relay.port)
            await self.relay.start()

        self.call(restart())

    def close(self) -> None:
        self.call(self.relay.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_the_page_follows_a_live_session_through_a_relay_restart(browser: Any) -> None:
    sess = Session(seconds=24.0)
    try:
        url = sess.view_url.result(60)
        page = browser.new_page()
        csp_errors: list[str] = []
        page.on(
            "console",
            lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
        )

        # A wrong token: 404 and nothing of the session.
        bad = page.goto(url[: url.index("?t=")] + "?t=" + "A" * 32)
        assert bad is not None and bad.status == 404
        assert "demo-S001" not in page.content()

        ok = page.goto(url)
        assert ok is not None and ok.status == 200
        assert "Content-Security-Policy" in {k.title() for k in ok.headers}
        wait = page.wait_for_function
        wait("() => window.__fm.points.tip > 30 && window.__fm.points.force > 30", timeout=45_000)
        wait("() => window.__fm.charts && window.__fm.drawn > 20", timeout=10_000)
        wait("() => window.__fm.tileUpdates > 3", timeout=10_000)
        assert page.locator("#tiles .tile").count() >= 3
        assert page.locator("#dev-stylus").get_attribute("data-link") == "connected"
        assert "student demo-S001" in page.locator("#student").inner_text()

        # The therapist marks an event by keyboard: it reaches the student's host.
        page.keyboard.press("m")
        page.keyboard.type("right hand, trial 2")
        page.keyboard.press("Enter")
        wait("() => window.__fm.marks.some(m => m.state === 'recorded')", timeout=10_000)

        # The relay restarts: the page says so, reconnects, shows the gap, and goes on.
        frames = page.evaluate("window.__fm.frames")
        sess.restart_relay()
        wait("() => window.__fm.connects >= 2 && window.__fm.gaps.length >= 1", timeout=20_000)
        wait(f"() => window.__fm.frames > {frames} + 20", timeout=10_000)
        assert page.locator("#gaps li").count() >= 1
        wait("() => document.getElementById('conn').textContent === 'live'", timeout=10_000)

        lat = sorted(page.evaluate("window.__fm.lat"))
        assert lat and lat[len(lat) // 2] < 1000.0  # device tick to drawn point, ms
        assert not csp_errors, csp_errors

        report = sess.report.result(60)
        assert [m["text"] for m in report["marks"]] == ["right hand, trial 2"]
        assert set(report["marks"][0]["device_t"]) == {"stylus", "grip"}
        assert report["view_url"] == url
        assert all(d["lost"] == 0 for d in report["devices"])
    finally:
        sess.close()
