"""Running a test's coroutine: a hard time limit, so a hang fails instead of blocking CI, and
waiting for a condition with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Awaitable[T], seconds: float = 30.0) -> T:
    """Run ``coro`` in a fresh event loop; fail with TimeoutError after ``seconds``."""

    async def limited() -> T:
        async with asyncio.timeout(seconds):
            return await coro

    return asyncio.run(limited())


async def eventually(check: Callable[[], Any], seconds: float = 5.0) -> None:
    """Wait until ``check()`` is true; fail with TimeoutError after ``seconds``."""
    async with asyncio.timeout(seconds):
        while not check():
            await asyncio.sleep(0.005)
