# The status LED.
import asyncio

from machine import Pin


class Led:
    def __init__(self, pin_no, active_low):
        self._on = 0 if active_low else 1
        self._pin = Pin(pin_no, Pin.OUT, value=1 - self._on)

    def on(self):
        self._pin.value(self._on)

    def off(self):
        self._pin.value(1 - self._on)

    def is_on(self):
        return self._pin.value() == self._on

    async def blink(self, times, on_ms=150, off_ms=150):
        for i in range(times):
            self.on()
            await asyncio.sleep_ms(on_ms)
            self.off()
            if i + 1 < times:
                await asyncio.sleep_ms(off_ms)
