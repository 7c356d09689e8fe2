# Ring buffer and framer over a scripted link, with synthetic samples of known value and tick.
# Usage: micropython framer_fw.py RATE_HZ MTU
# Prints "F <hex>" per frame sent, "E <event> <numbers>" for the test to check, "HEAP <bytes>".
import binascii
import gc
import sys

import micropython

from fm.framer import Framer
from fm.ring import Ring
from fm.wire import LAYOUT_STYLUS, REC_STYLUS, put_i24, put_u12x2

RATE = int(sys.argv[1])
MTU = int(sys.argv[2])
PERIOD = 1000000 // RATE
MASK = 0x3FFFFFFF
T0 = (1 << 30) - 2000000  # start 2 s before the tick counter wraps

ring = Ring(RATE * 32, REC_STYLUS)
framer = Framer(ring, LAYOUT_STYLUS, 244)
framer.batch = max(1, RATE * 20 // 1000)
framer.set_mtu(MTU)
i = 0  # next sample index
link_up = True


def take_sample():
    # What the sampler's interrupt handler does with one reading (no allocation).
    global i
    off = ring.offset()
    put_i24(ring.data, off, i * 7 - 3000)
    put_u12x2(ring.data, off + 3, i % 4096, (i * 3) % 4096)
    ring.commit((T0 + i * PERIOD) & MASK)
    i += 1


def send(frame):
    print("F", binascii.hexlify(frame).decode())


def pump(now):
    # What the kit's stream task does on each wake.
    for _ in range(4):
        f = framer.live(now)
        if f is None:
            break
        if link_up:
            send(f)
            framer.commit_live(f)
        else:
            break
    f = framer.backfill()
    if f is not None and link_up:
        send(f)
        framer.commit_backfill(f)


def run(seconds):
    # Sample at RATE and wake the stream task every 5 ms of device time.
    steps = seconds * 200
    per_step = RATE // 200
    for _ in range(steps):
        for _ in range(per_step):
            take_sample()
        pump((T0 + i * PERIOD) & MASK)


gc.collect()
heap0 = gc.mem_alloc()
run(5)
print("E phase1", i, framer.overwritten)
link_up = False
run(4)  # a 4 s drop: shorter than the ring
link_up = True
run(3)
print("E phase2", i, framer.overwritten)
link_up = False
run(40)  # a 40 s drop: longer than the ring
link_up = True
run(3)
print("E phase3", i, framer.overwritten)
# Ask for samples from before the long drop (gone) and for the last second (still held).
first, queued, gone = framer.request_backfill(1000, 500)
print("E backfill_old", first, queued, gone)
run(1)
recent = (i - RATE) & 0xFFFF
first, queued, gone = framer.request_backfill(recent, RATE)
print("E backfill_recent", first, queued, gone)
run(2)
print("E end", i, framer.pending())
# Allocation in the sampling path: one more second under heap_lock.
micropython.heap_lock()
try:
    for _ in range(RATE):
        take_sample()
    locked_ok = 1
except MemoryError:
    locked_ok = 0
micropython.heap_unlock()
print("E heap_locked_sampling", locked_ok)
gc.collect()
print("HEAP", gc.mem_alloc() - heap0, ring.cap)
