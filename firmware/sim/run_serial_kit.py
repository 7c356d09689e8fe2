# Runs a kit's firmware, unmodified, on the simulated board with its serial link (the USB CDC
# cable of docs/protocol.md, "Serial link") on an inherited file descriptor: the master side of
# a pseudo-terminal whose slave the host opens with pyserial, as it would /dev/ttyACM0.
#
#   micropython run_serial_kit.py FD KIND SEED KIT_ID|- ADC_CHIP|- DRIFT_PPM MAIN_PY
#
# FD is the line's descriptor, or "-" for this process's own stdin/stdout (the console, as on
# the kit). The world runs in realtime with the simulated student as its force source; a new
# kit comes calibrated from the factory (sim/factory.py), as under run_kit.py. The firmware's
# files (kit_id.txt, cal.bin) live in the current directory, as on the kit's flash.
#
# main.py is not changed: this script sets fm.linkselect.factory to a SerialLink on the line
# before running it, so the Kit that main.py builds talks through the line instead of BLE.
import sys

from student import Student
from world import World

FD = sys.argv[1]
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

from fm import linkselect  # noqa: E402
from fm.seriallink import SerialLink  # noqa: E402

from factory import prepare_flash  # noqa: E402

prepare_flash(world, KIND, CHIP, KIT_ID)

if FD == "-":
    linkselect.factory = SerialLink  # the console
else:
    # The launcher made the descriptor non-blocking: the link keeps what the line does not
    # take yet, and reads what has come in 64-byte chunks.
    line = open(int(FD), "r+b")

    def _serial(kit, kind, kit_id, model, serial, firmware, hardware):
        return SerialLink(
            kit, kind, kit_id, model, serial, firmware, hardware, line, line, False, 64
        )

    linkselect.factory = _serial

asyncio.create_task(world.run())
sys.argv[:] = [MAIN]
exec(open(MAIN).read(), {"__name__": "__main__"})
