# Device ticks wrap at 2**30 like the ESP32's; crystal drift scales device time; sleeps and
# timers run on the device clock. Prints JSON.
import time

from drv_util import report
from machine import Timer
from world import World

out = {}
# ticks_us wraps after 2**30 us (~17.9 min): start 0.2 s before the wrap, sample every 50 ms.
w = World("stylus", start_us=(1 << 30) - 200_000)
us = []
for _ in range(8):
    us.append(time.ticks_us())
    time.sleep_ms(50)
out["us"] = us
out["us_diffs"] = [time.ticks_diff(us[i + 1], us[i]) for i in range(7)]
out["add"] = [time.ticks_add((1 << 30) - 10, 25), time.ticks_add(5, -10)]
out["diff_wrap"] = time.ticks_diff(5, (1 << 30) - 5)
# ticks_ms wraps after 2**30 ms (~12.4 days).
w = World("stylus", start_us=((1 << 30) - 100) * 1000)
ms = []
for _ in range(5):
    ms.append(time.ticks_ms())
    w.advance(40_000)
out["ms"] = ms
# Drift: +250 ppm crystal; 10 s of world time is 10.0025 s of device time.
w = World("stylus", drift_ppm=250.0)
t0 = time.ticks_us()
w.advance(10_000_000)
out["drift_us"] = time.ticks_diff(time.ticks_us(), t0)
out["world_us"] = w.now()
# A 200 Hz hardware timer over 10 s of device time fires exactly 2000 times.
n = [0]


def tick(t):
    n[0] += 1


tim = Timer(0)
tim.init(freq=200, mode=Timer.PERIODIC, callback=tick)
t0 = time.ticks_us()
while time.ticks_diff(time.ticks_us(), t0) < 10_000_000:
    time.sleep_ms(100)
tim.deinit()
out["timer"] = n[0]
out["timer_dev_us"] = time.ticks_diff(time.ticks_us(), t0)
time.sleep_ms(100)
out["timer_after_deinit"] = n[0]
report(**out)
