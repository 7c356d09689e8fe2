# Runs a kit's firmware, unmodified, on the simulated board with its radio on the host's
# virtual radio (the bridge of finemotor.transport.virtual.simkit starts this script).
#
#   micropython run_kit.py PORT KIND SEED KIT_ID|- ADC_CHIP|- DRIFT_PPM MAIN_PY
#
# The world runs in realtime, with the simulated student as its force source; the button and
# the battery answer the bridge's simulation controls. The firmware's files (kit_id.txt,
# bonds.bin, cal.bin) live in the current directory, as on the kit's flash.
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

world = World(
    KIND, seed=SEED, realtime=True, adc_chip=CHIP, drift_ppm=DRIFT, source=Student(seed=SEED)
)

import asyncio  # noqa: E402  (after the World: the simulated time is in place)

import bluetooth  # noqa: E402


def _sim(op, value):
    if op == 0:
        world.press_button(value)
    elif op == 1:
        world.set_battery_mv(value)


if CHIP is not None:  # the board variant fitted with this bridge ADC (what the firmware reads)
    sys.modules["boards." + KIND].ADC_CHIP = CHIP

if KIT_ID is not None:
    with open("kit_id.txt", "w") as f:
        f.write(KIT_ID)

try:
    open("cal.bin").close()
except OSError:  # a new kit: comes calibrated from the factory
    from factory import write_factory_calibration

    write_factory_calibration(world)

bluetooth.connect_bridge("127.0.0.1", PORT)
bluetooth.on_sim(_sim)
asyncio.create_task(world.run())
sys.argv[:] = [MAIN]
exec(open(MAIN).read(), {"__name__": "__main__"})
