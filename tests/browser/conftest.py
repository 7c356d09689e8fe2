"""The browser tests' Chromium (Debian's, through Playwright), one context per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bench.chromium import chromium_context


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium_context() as ctx:
        yield ctx
