"""Debian's Chromium, headless, launched one way for the browser tests and the view benchmark."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = "/usr/bin/chromium"
"""Debian's package (`.ci/run` installs it); Playwright drives it with ``executable_path``."""
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium_context() -> Iterator[Any]:
    """A headless Chromium browser context with a throw-away profile (closed and removed)."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415  (dev extra)

    profile = tempfile.mkdtemp(prefix="fm-chromium-")
    try:
        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=ARGS, headless=True
            )
            try:
                yield ctx
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
