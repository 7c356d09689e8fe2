# Rate switching moves the DRDY interval on the device clock. Usage: drv_rates.py CHIP
# For each supported rate: set_rate, then the mean ticks_us interval between DRDY interrupts
# over ~40 conversions. Prints JSON {rate: [returned rate, mean interval us, truth period ns]}.
import sys
import time

from drv_util import Steady, channel, report, setup
from machine import Pin

chip = sys.argv[1]
if chip == "hx711":
    import boards.grip

    boards.grip.HX711_RATE = 18  # this test's board wires RATE to a GPIO
w, adc = setup(chip, Steady(1.0, 0, 0, 100.0))
if chip == "hx711":
    from fm.drivers.hx711 import HX711

    b = w.board
    adc = HX711(Pin(b.HX711_DOUT, Pin.IN), Pin(b.HX711_SCK, Pin.OUT), rate_pin=Pin(18, Pin.OUT))
adc.begin(adc.RATES[0], 128)
st = [0, 0, 0]  # edges, first tick, last tick


def on_ready(pin):
    if not adc.ready():
        return
    t = time.ticks_us()
    adc.read()
    if st[0] == 0:
        st[1] = t
    st[2] = t
    st[0] += 1


adc.drdy.irq(handler=on_ready, trigger=Pin.IRQ_FALLING)
out = {}
for r in adc.RATES:
    got = adc.set_rate(r)
    w.advance(6 * 1_000_000 // got)  # let the new rate settle
    st[0] = 0
    w.advance(40 * 1_000_000 // got)
    mean = time.ticks_diff(st[2], st[1]) / (st[0] - 1)
    out[str(r)] = [got, mean, w.truth[channel(chip)]["period_ns"]]
out["nearest"] = [adc.set_rate(r) for r in (1, 15, 100, 300, 5000)]
report(rates=out, irq_errors=w.irq_errors)
