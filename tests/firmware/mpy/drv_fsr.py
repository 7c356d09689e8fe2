# The stylus's barrel FSR pads through the ESP32 ADC. Usage: drv_fsr.py FORCE_A FORCE_B
import sys

from drv_util import Steady, report
from fm.drivers.adc_force import ForceADC
from world import World

fa, fb = float(sys.argv[1]), float(sys.argv[2])
w = World("stylus", seed=4, source=Steady(0.0, fa, fb))
b = w.board
a, bb = ForceADC(b.FSR_A_ADC), ForceADC(b.FSR_B_ADC)
ra, rb = [], []
for _ in range(50):
    w.advance(1000)
    ra.append(a.read())
    rb.append(bb.read())
t = w.truth
report(a=ra, b=rb, truth_a=t["barrel_a"], truth_b=t["barrel_b"])
