"""Small asyncio helpers the library needs on every supported Python."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``event``; True if it is set.

    Unlike ``asyncio.wait_for(event.wait(), timeout)`` on Python 3.11, a cancellation that
    arrives just as the event is set is never swallowed, so a task waiting here always stops
    when it is cancelled.
    """
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
