# A lean force source with known values, for tests that need room in a 128 KB heap.
# Runs under MicroPython (beside the simulated kit) and CPython (the test recomputes it).
import math


class Lean:
    # Pen: 1.3 Hz strokes of 1.5 +- 0.6 N, lifted when the phase is past 0.7; barrel follows.
    # Grip: a 120 N squeeze every 8 s: 0.5 s rise, 2.5 s hold, 0.5 s release.
    def pen(self, t):
        ph = (t * 1.3) % 1.0
        if ph > 0.7:
            return (0.0, 2.0, 1.6)
        tip = 1.5 + 0.6 * math.sin(2 * math.pi * ph / 0.7)
        return (tip, 2.0 + 0.5 * tip, 1.6 + 0.4 * tip)

    def grip(self, t):
        u = t % 8.0
        if u < 0.5:
            return 240.0 * u
        if u < 3.0:
            return 120.0
        if u < 3.5:
            return 120.0 - 240.0 * (u - 3.0)
        return 0.0
