# The read path allocates nothing: every IRQ handler runs under micropython.heap_lock()
# (World(strict_alloc=True)). Usage: drv_strict.py CHIP [alloc]
# With "alloc" the handler also builds a list, which must be caught (the test can fail).
import sys
from array import array

from drv_util import Steady, report, setup
from machine import Pin, Timer

chip = sys.argv[1]
alloc = len(sys.argv) > 2
w, adc = setup(chip, Steady(2.0, 1.0, 3.0, 200.0), strict_alloc=True)
adc.begin()
vals = array("i", bytes(4 * 64))
n = [0, 0]


def on_ready(pin):
    if not adc.ready():
        return
    vals[n[0] & 63] = adc.read()
    n[0] += 1
    if alloc:
        n[1] = [n[0]]


if chip == "stylus":  # the stylus samples from a timer: bridge ADC plus both FSR pads
    from fm.drivers.adc_force import ForceADC

    b = w.board
    fa, fb = ForceADC(b.FSR_A_ADC), ForceADC(b.FSR_B_ADC)

    def on_tick(t):
        vals[n[0] & 63] = adc.read() + fa.read() + fb.read()
        n[0] += 1
        if alloc:
            n[1] = [n[0]]

    tim = Timer(0)
    tim.init(freq=200, mode=Timer.PERIODIC, callback=on_tick)
else:
    adc.drdy.irq(handler=on_ready, trigger=Pin.IRQ_FALLING)
w.advance(1_000_000)
report(handled=n[0], irq_errors=w.irq_errors, error=repr(w.last_irq_error), irqs=w.irq_count)
