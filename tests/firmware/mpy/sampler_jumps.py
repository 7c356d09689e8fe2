# The sampler's STOP and START from the main program while its own handler (a soft callback)
# preempts it at bytecode jumps (preempt.py), as the ESP32's scheduler runs it at any jump.
# Usage: sampler_jumps.py KIND ADC_CHIP|- SECONDS: until the handler came between two statements
# 2000 times, or for SECONDS of the host's time. Prints "R key value" lines.
#
# A stop must leave the ring on a block boundary (ring.py: a block's samples share one
# anchor tick, so a pause may not fall inside one), and a start must leave it sampling.
import sys

from world import World

KIND = sys.argv[1]
CHIP = sys.argv[2] if sys.argv[2] != "-" else None
SECONDS = float(sys.argv[3])
w = World(KIND, seed=4, adc_chip=CHIP)
import asyncio  # noqa: E402

import preempt  # noqa: E402
import utime  # noqa: E402
from fm import devices  # noqa: E402
from fm.ring import Ring  # noqa: E402
from fm.sampler import Sampler  # noqa: E402

if KIND == "stylus":
    from boards import stylus as board

    dev = devices.stylus(board)
else:
    from boards import grip as board

    dev = devices.grip(board, CHIP)
ring = Ring(dev.max_rate * 4, dev.channels.rec)
s = Sampler(ring, dev.channels, asyncio.ThreadSafeFlag(), dev.use_timer)
s.configure(dev.max_rate)
period = s._period
# A tick every 60-150 us of host time, each charging the main program's Python up to two
# sample periods of device time (the handler comes due between two statements).
started = preempt.start(every_us=(60, 150), step_us=(0, 2 * period), seed=11)


def R(k, v):
    print("R", k, v)


mid_block = 0  # stops that left the ring inside a block
stopped = 0  # starts that left the sampler stopped
iterations = 0
s.start()
t0 = utime.ticks_ms()
while (
    preempt.S.callbacks[1] < 2000 and utime.ticks_diff(utime.ticks_ms(), t0) < SECONDS * 1000
):
    for _ in range(200):
        s.stop()
        if not s.running and not ring.at_block_start():
            mid_block += 1
            s.start()
            while ring.pos & 15:  # finish the block, to check on from a boundary again
                w.advance(period)
        else:
            s.start()
        if not s.running:
            stopped += 1
            s.start()
        w.advance(period * 4 // 3)
    iterations += 200
s.stop()
w.advance(20 * period)
R("started", 1 if started else 0)
R("iterations", iterations)
R("samples", ring.count)
R("mid_block", mid_block)
R("left_stopped", stopped)
R("irq_errors", w.irq_errors)
for k, v in preempt.counts().items():
    R(k, v)
