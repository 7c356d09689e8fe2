"""The therapist's workspace in headless Chromium: time to the first chart on the session page
of a 30-minute session (stylus and grip at 100 Hz each, uploaded by the desk), against the
time to load the caseload page, and the bytes each page transfers.

Run: ``python -m bench bench_workspace``. The first session load pays the server's analysis of
the raw samples (then kept in memory), so it is reported apart from the p50 of the others.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.chromium import CHROMIUM, chromium_context
from bench.workspace_world import PASSWORD, THERAPIST, World

SESSION_S = 30 * 60.0
RUNS = 7
CASELOAD_STUDENTS = 100
BYTES = """() => performance.getEntries()
  .filter((e) => e.transferSize !== undefined)
  .reduce((a, e) => a + e.transferSize, 0)"""


def _timed(page: Any, url: str, done: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(done, timeout=120_000)
    return (time.perf_counter() - t0) * 1000.0, int(page.evaluate(BYTES))


def measure(runs: int = RUNS) -> dict[str, Any]:
    """Figures of one run of the benchmark (ms and bytes)."""
    with tempfile.TemporaryDirectory(prefix="fm-bench-ws-") as folder:
        w = World(Path(folder))
        try:
            t0 = time.perf_counter()
            w.record_and_upload("S-1", SESSION_S, 1.0)
            upload_s = time.perf_counter() - t0
            w.add_students(CASELOAD_STUDENTS - 1)
            sid = w.server_sessions("S-1")[-1]
            with chromium_context() as ctx:
                page = ctx.new_page()
                page.set_viewport_size({"width": 900, "height": 900})
                page.goto(w.base + "/signin")
                page.fill("#email", THERAPIST)
                page.fill("#password", PASSWORD)
                page.press("#password", "Enter")
                page.wait_for_url(lambda u: "/signin" not in u)
                first_chart = "() => document.body.dataset.charts !== undefined"
                ready = "() => document.body.dataset.ready === '1'"
                cold = _timed(page, f"{w.base}/sessions/{sid}", first_chart)
                session = [
                    _timed(page, f"{w.base}/sessions/{sid}", first_chart) for _ in range(runs)
                ]
                caseload = [_timed(page, f"{w.base}/caseload", ready) for _ in range(runs)]
                page.goto(f"{w.base}/sessions/{sid}")
                page.wait_for_function(first_chart)
                t1 = time.perf_counter()
                with page.expect_response(lambda r: "/traces?" in r.url and "from=" in r.url):
                    page.click("#z-in")
                zoom_ms = (time.perf_counter() - t1) * 1000.0
        finally:
            w.close()
    return {
        "upload_s": upload_s,
        "session_cold": cold,
        "session_p50_ms": statistics.median(x[0] for x in session),
        "session_bytes": session[-1][1],
        "caseload_p50_ms": statistics.median(x[0] for x in caseload),
        "caseload_bytes": caseload[-1][1],
        "zoom_ms": zoom_ms,
    }


def main() -> None:
    if not Path(CHROMIUM).exists():
        print(f"workspace: skipped ({CHROMIUM} is missing)")
        return
    m = measure()
    print(f"30-minute session (2 devices x 180,000 samples) uploaded in {m['upload_s']:.1f} s")
    print(
        f"session page, time to first chart: p50 {m['session_p50_ms']:.0f} ms over {RUNS} runs "
        f"(first, server analysis cold: {m['session_cold'][0]:.0f} ms); "
        f"{m['session_bytes'] / 1024:.0f} KiB transferred"
    )
    print(
        f"caseload page ({CASELOAD_STUDENTS} students), loaded: p50 {m['caseload_p50_ms']:.0f} "
        f"ms; {m['caseload_bytes'] / 1024:.0f} KiB transferred"
    )
    print(f"zoom in on the session page, refined traces answered: {m['zoom_ms']:.0f} ms")


if __name__ == "__main__":
    main()
