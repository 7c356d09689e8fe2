# Realtime mode: the device clock follows the host's, the pump task fires conversions.
import asyncio
import time

from drv_util import Steady, report, setup
from machine import Pin

w, adc = setup("nau7802", Steady(grip=100.0), realtime=True)
adc.begin(320, 128)
n = [0]


def on_ready(pin):
    if adc.ready():
        adc.read()
        n[0] += 1


adc.drdy.irq(handler=on_ready, trigger=Pin.IRQ_FALLING)


async def main():
    pump = asyncio.create_task(w.run())
    t0 = time.ticks_ms()
    await asyncio.sleep_ms(500)
    dt = time.ticks_diff(time.ticks_ms(), t0)
    pump.cancel()
    return dt


dt = asyncio.run(main())
report(handled=n[0], ms=dt, errors=w.irq_errors)
