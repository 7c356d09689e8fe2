"""How long the command line takes to start: ``finemotor --help`` and a light command, against
``python -c pass`` (median of 5 runs each, and the ratio)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 5


def _median_s(argv: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True, timeout=120)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    """Print each start-up time and its ratio to a bare interpreter."""
    bare = _median_s([sys.executable, "-c", "pass"])
    print(f"python -c pass: {1000 * bare:.0f} ms")
    for args in (["--help"], ["info"], ["sessions", "--help"], ["session", "--help"]):
        t = _median_s([sys.executable, "-m", "finemotor", *args])
        print(f"finemotor {' '.join(args)}: {1000 * t:.0f} ms ({t / bare:.1f} x python -c pass)")
