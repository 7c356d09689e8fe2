# Virtual time over a long run keeps the exact count of DRDY edges.
# Usage: drv_long.py CHIP SECONDS. Prints JSON: interrupts handled, the chip's conversions in
# the window, and the count its schedule (truth: first_us, period_ns) predicts.
import sys

from drv_util import Steady, channel, report, setup
from machine import Pin

chip = sys.argv[1]
secs = int(sys.argv[2])
w, adc = setup(chip, Steady(1.0, 0, 0, 100.0))
adc.begin()
n = [0]


def on_ready(pin):
    if adc.ready():
        adc.read()
        n[0] += 1


tr = w.truth[channel(chip)]
c0 = tr["conversions"]
adc.drdy.irq(handler=on_ready, trigger=Pin.IRQ_FALLING)
start = w.now()
w.advance(secs * 1_000_000)
end = w.now()
tr = w.truth[channel(chip)]


def done_by(t):  # conversions the schedule completes at or before world time t
    if t < tr["first_us"]:
        return 0
    k = (t - tr["first_us"]) * 1000 // tr["period_ns"]
    while tr["first_us"] + (k + 1) * tr["period_ns"] // 1000 <= t:
        k += 1
    while tr["first_us"] + k * tr["period_ns"] // 1000 > t:
        k -= 1
    return k + 1


report(handled=n[0], conversions=tr["conversions"] - c0, predicted=done_by(end) - done_by(start))
