"""How long the command line takes to start: ``finemotor --help``, every sub-command's
``--help`` and a light command, against ``python -c pass`` (median of 5 runs each, and the
ratio). Every ``--help`` should be within 0.3 s."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from finemotor.cli import COMMANDS

RUNS = 5
HELP_BUDGET_S = 0.3


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
    worst = 0.0
    for args in (["--help"], *([name, "--help"] for name in COMMANDS), ["info"]):
        t = _median_s([sys.executable, "-m", "finemotor", *args])
        if "--help" in args:
            worst = max(worst, t)
        print(f"finemotor {' '.join(args)}: {1000 * t:.0f} ms ({t / bare:.1f} x python -c pass)")
    verdict = "within" if worst <= HELP_BUDGET_S else "OVER"
    print(
        f"slowest --help: {1000 * worst:.0f} ms, {verdict} the {1000 * HELP_BUDGET_S:.0f} ms budget"
    )
