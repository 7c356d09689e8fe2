# A device's real sampling stack (drivers, sampler, ring, framer) on the simulated board, with
# the simulated student applying forces, over simulated time.
# Usage: micropython kit_sampling.py KIND SECONDS SEED ADC_CHIP|- RING_SECONDS student|lean
# Prints "F <hex>" per frame, "T <json>" the world's truth, "S <key> <value>" counters and heap.
# The lean source is a few lines of known forces (the host recomputes them): it leaves room in
# a 128 KB heap, where the full simulated student, the simulation and the firmware don't fit
# together (see docs/simulation.md).
import binascii
import gc
import json
import sys

from lean_source import Lean
from world import World

KIND = sys.argv[1]
SECONDS = int(sys.argv[2])
SEED = int(sys.argv[3])
CHIP = sys.argv[4] if sys.argv[4] != "-" else None
RING_S = int(sys.argv[5])
SOURCE = sys.argv[6]


gc.collect()
heap_start = gc.mem_alloc()
if SOURCE == "student":
    from student import Student

    student = Student(seed=SEED)
else:
    student = Lean()
world = World(KIND, seed=SEED, source=student, adc_chip=CHIP, strict_alloc=True)
gc.collect()
heap_sim = gc.mem_alloc() - heap_start

import asyncio  # noqa: E402  (after the World: the sim's time must be in place)
import time  # noqa: E402

from fm import devices  # noqa: E402
from fm.framer import Framer  # noqa: E402
from fm.ring import Ring  # noqa: E402
from fm.sampler import Sampler  # noqa: E402

if KIND == "stylus":
    from boards import stylus as board

    device = devices.stylus(board)
else:
    from boards import grip as board

    device = devices.grip(board, CHIP)
ring = Ring(device.max_rate * RING_S, device.channels.rec)
flag = asyncio.ThreadSafeFlag()
sampler = Sampler(ring, device.channels, flag, device.use_timer)
sampler.configure(device.default_rate)
framer = Framer(ring, device.channels.layout, 244)
framer.batch = sampler.batch
framer.set_mtu(247)
gc.collect()
heap_firmware = gc.mem_alloc() - heap_start - heap_sim
print("S rate", sampler.rate)

sampler.start()
STEP_US = 5000
frames = 0
for _ in range(SECONDS * 1000000 // STEP_US):
    world.advance(STEP_US)
    now = time.ticks_us() & 0x3FFFFFFF
    sampler.kick(now)
    while True:
        f = framer.live(now)
        if f is None:
            break
        print("F", binascii.hexlify(f).decode())
        framer.commit_live(f)
        frames += 1
sampler.stop()
for _ in range(100):
    if not sampler.running:
        break
    world.advance(STEP_US)
while True:
    f = framer.live((time.ticks_us() + 100000) & 0x3FFFFFFF)
    if f is None:
        break
    print("F", binascii.hexlify(f).decode())
    framer.commit_live(f)

gc.collect()
print("S samples", ring.count)
print("S missed", sampler.missed)
print("S faults", sampler.faults)
print("S overwritten", framer.overwritten)
print("S irq_errors", world.irq_errors)
print("S heap_sim", heap_sim)
print("S heap_firmware", heap_firmware)
print("S heap_total", gc.mem_alloc())
print("S heap_free", gc.mem_free())
print("T", json.dumps(world.truth))
