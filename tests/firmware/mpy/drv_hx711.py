# HX711 bit-bang protocol: gain pulses select the next conversion's input, a long SCK high
# powers the chip down and resets it, DOUT toggles during a read. Prints JSON.

from drv_util import Steady, report, setup
from machine import Pin

force = 400.0
w, adc = setup("hx711", Steady(grip=force))
chip = w.chips["hx711"]
out = {}
for gain in (128, 64, 32):
    adc.begin(80, gain)
    out[f"sel_{gain}"] = chip.sel
    vals = []
    for _ in range(20):
        while not adc.ready():
            w.advance(500)
        vals.append(adc.read())
    out[f"mean_{gain}"] = sum(vals) / len(vals)
    out[f"pulses_{gain}"] = chip.pulses
tr = w.truth["grip"]
out["truth"] = tr
out["internal_offset"] = chip.internal_offset
# Back to 128: a power-down (SCK high > 60 us) resets the chip to channel A, gain 128.
adc.begin(80, 128)
pd = chip.power_downs
adc._sck.value(1)
w.advance(70)
adc._sck.value(0)
out["power_downs"] = chip.power_downs - pd
out["sel_after_pd"] = chip.sel
out["ready_after_pd"] = adc.ready()
# A read makes DOUT toggle: the falling edges reach the IRQ, ready() tells them apart.
good = [0, 0]


def on_edge(pin):
    if adc.ready():
        adc.read()
        good[0] += 1
    else:
        good[1] += 1


adc.drdy.irq(handler=on_edge, trigger=Pin.IRQ_FALLING)
c0 = chip.conversions
w.advance(1_000_000)
out["edges_good"] = good[0]
out["edges_spurious"] = good[1]
out["conversions"] = chip.conversions - c0
report(**out)
