# Runs a kit's firmware, unmodified, on the simulated board with its radio on the host's
# virtual radio (the bridge of finemotor.transport.virtual.simkit starts this script).
#
#   micropython run_kit.py PORT KIND SEED KIT_ID|- ADC_CHIP|- DRIFT_PPM MAIN_PY [BATTERY_MV]
#
# The world runs in realtime, with the simulated student as its force source (or the simulated
# load rig, when the host hangs a weight); the button, the battery, the rig and the truth dump
# answer the bridge's simulation controls. The bridge's events preempt the firmware's main
# program at bytecode jumps (preempt.py). The firmware's files (kit_id.txt,
# bonds.bin, cal.bin) live in the current directory, as on the kit's flash.
import json
import math
import sys

from student import Student
from world import World

PORT = int(sys.argv[1])
KIND = sys.argv[2]
SEED = int(sys.argv[3])
KIT_ID = sys.argv[4] if sys.argv[4] != "-" else None
CHIP = sys.argv[5] if sys.argv[5] != "-" else None
DRIFT = float(sys.argv[6])
MAIN = sys.argv[7]
# the cell at power-on, if the host gives one (else the World's own)
POWER_ON = {"battery_mv": int(sys.argv[8])} if len(sys.argv) > 8 else {}


class Rig:
    # The simulated load rig: a weight on the sensor overrides the student. A new load settles
    # like a hanging weight: L + (P - L)·exp(-dt/TAU)·cos(2π·SWING_HZ·dt), P the force before.
    TAU_S = 0.12
    SWING_HZ = 2.0

    def __init__(self, student):
        self.student = student
        self.load = None
        self.prev = 0.0
        self.t0 = 0.0

    def set(self, newtons, t_s):
        # newtons None hands the sensor back to the student.
        self.prev = self.force(t_s) if self.load is not None else 0.0
        self.load = newtons
        self.t0 = t_s

    def force(self, t):
        dt = t - self.t0
        if dt < 0.0:
            dt = 0.0
        k = math.exp(-dt / self.TAU_S) * math.cos(6.283185307 * self.SWING_HZ * dt)
        return self.load + (self.prev - self.load) * k

    def pen(self, t):
        if self.load is None:
            return self.student.pen(t)
        return (self.force(t), 0.0, 0.0)

    def grip(self, t):
        if self.load is None:
            return self.student.grip(t)
        return self.force(t)


rig = Rig(Student(seed=SEED))
world = World(
    KIND,
    seed=SEED,
    realtime=True,
    adc_chip=CHIP,
    drift_ppm=DRIFT,
    source=rig,
    **POWER_ON,
)

import asyncio  # noqa: E402  (after the World: the simulated time is in place)

import bluetooth  # noqa: E402


def _sim(op, value):
    # The bridge's simulation controls (bluetooth.on_sim; op one of bluetooth.SIM_*).
    if op == bluetooth.SIM_BUTTON:
        world.press_button(value)
    elif op == bluetooth.SIM_BATTERY:
        world.set_battery_mv(value)
    elif op == bluetooth.SIM_LOAD:  # the rig: value in mN, 0xFFFFFFFF hands back to the student
        rig.set(None if value == 0xFFFFFFFF else value / 1000.0, world.now() / 1_000_000)
    elif op == bluetooth.SIM_TRUTH:  # the hidden truth, at the gain the firmware set, to truth.json
        with open("truth.json.tmp", "w") as f:
            json.dump(world.truth, f)
        import os

        os.rename("truth.json.tmp", "truth.json")


from factory import prepare_flash  # noqa: E402

prepare_flash(world, KIND, CHIP, KIT_ID)

bluetooth.connect_bridge("127.0.0.1", PORT)
bluetooth.on_sim(_sim)
import preempt  # noqa: E402

# As on the port, the bridge's events preempt the firmware at its next bytecode jump, not only
# at the pump's await or in a call into the stack (preempt.py; FINEMOTOR_SIM_PREEMPT=0: off).
preempt.start(sock=bluetooth._bridge.sock)
asyncio.create_task(world.run())
sys.argv[:] = [MAIN]
exec(open(MAIN).read(), {"__name__": "__main__"})
