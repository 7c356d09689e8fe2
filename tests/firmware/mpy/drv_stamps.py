# Realtime: a timer's callbacks that the host fired late (it was busy) are stamped at their
# periods, also when a Bluetooth handler locked and unlocked the scheduler in between (a lock
# holds back only what comes due while it is held).
import machine
import time
import utime
from drv_util import report
from world import World

w = World("stylus", seed=3, realtime=True)
stamps = []


def tick(t):
    stamps.append(time.ticks_us())  # what the firmware reads in a callback


tim = machine.Timer(0)
tim.init(freq=200, callback=tick)
w.fire_due()
t0 = utime.ticks_us()
while utime.ticks_diff(utime.ticks_us(), t0) < 12_000:  # the host is busy: nothing fires
    pass
w.sched_lock()  # a Bluetooth handler, run before the world's due events
w.sched_unlock()
unlocked = time.ticks_us()
w.fire_due()  # the two periods that came due meanwhile
tim.deinit()
report(
    stamps=len(stamps),
    gaps=[b - a for a, b in zip(stamps, stamps[1:])],
    before_unlock=sum(1 for s in stamps if s < unlocked),
)
