# A bridge ADC begins and reads a known force. Usage: drv_read.py CHIP FORCE_N [SEED [GAIN]]
# Prints JSON: every result taken on DRDY over half a second, the world's truth for the
# channel, and the device time of the first and last result.
import sys
import time
from array import array

from drv_util import Steady, channel, report, setup
from machine import Pin

chip = sys.argv[1]
force = float(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
gain = int(sys.argv[4]) if len(sys.argv) > 4 else 128
src = Steady(tip=force, grip=force)
w, adc = setup(chip, src, seed)
adc.begin(adc.RATES[-1], gain)
vals = array("i", bytes(4 * (adc.rate // 2 + 8)))
n = [0]


def on_ready(pin):
    if not adc.ready():
        return  # an edge with no result behind it (HX711: DOUT toggling during a read)
    i = n[0]
    vals[i] = adc.read()
    n[0] = i + 1


adc.drdy.irq(handler=on_ready, trigger=Pin.IRQ_FALLING)
t0 = w.now() / 1e6
w.advance(500_000)
report(
    values=list(vals[: n[0]]),
    truth=w.truth[channel(chip)],
    t0=t0,
    t1=w.now() / 1e6,
    rate=adc.rate,
    gain=getattr(adc, "gain", gain),
    irq_errors=w.irq_errors,
    ticks=time.ticks_ms(),
)
