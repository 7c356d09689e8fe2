# The kit's push button (opens the pairing window, identifies the kit).
#
# Every edge raises a pin interrupt that stamps the time and sets a ThreadSafeFlag; the task
# side debounces: a level counts once it has held for 20 ms with no edge. A press lasts from
# the first edge of the press to the first edge of the release.
import asyncio
import time

from machine import Pin
from micropython import const

_DEBOUNCE_MS = const(20)
_MAX_HOLD_MS = const(60000)


class Button:
    def __init__(self, pin_no, active_low):
        self._active = 0 if active_low else 1
        pull = Pin.PULL_UP if active_low else Pin.PULL_DOWN
        self._pin = Pin(pin_no, Pin.IN, pull)
        self._flag = asyncio.ThreadSafeFlag()
        self._edge_ms = time.ticks_ms()
        self._first_ms = time.ticks_ms()
        self._armed = False
        self._pin.irq(handler=self._irq, trigger=Pin.IRQ_FALLING | Pin.IRQ_RISING)

    def _irq(self, _pin):
        now = time.ticks_ms()
        self._edge_ms = now
        if self._armed:
            self._armed = False
            self._first_ms = now
        self._flag.set()

    def pressed(self):
        return self._pin.value() == self._active

    async def _settle(self, want, since, limit_ms):
        # Wait for the level to become `want` and hold; return the ticks_ms of the first edge
        # of that transition, or -1 if limit_ms (from `since`) runs out.
        self._armed = True
        while True:
            left = limit_ms - time.ticks_diff(time.ticks_ms(), since)
            if left <= 0:
                return -1
            try:
                await asyncio.wait_for_ms(self._flag.wait(), left)
            except asyncio.TimeoutError:
                return -1
            while time.ticks_diff(time.ticks_ms(), self._edge_ms) < _DEBOUNCE_MS:
                await asyncio.sleep_ms(_DEBOUNCE_MS)
            if self.pressed() == want:
                self._flag.clear()
                return self._first_ms
            self._armed = True  # bounced back: a glitch, wait for the next transition

    async def wait_press(self, timeout_ms):
        # Wait up to timeout_ms for a press; return how long it was held (ms), 0 if none.
        self._flag.clear()
        down = await self._settle(True, time.ticks_ms(), timeout_ms)
        if down < 0:
            return 0
        up = await self._settle(False, down, _MAX_HOLD_MS)
        if up < 0:
            return _MAX_HOLD_MS
        return max(1, time.ticks_diff(up, down))
