"""A kit whose force sensor does not answer still comes up, and says so."""

from __future__ import annotations

import pytest
from mpy_runner import run_mpy

SCRIPT = """
import sys
from world import World
w = World(sys.argv[1], seed=2, adc_chip=None if sys.argv[2] == "-" else sys.argv[2])
w.fail(sys.argv[3])
from fm import devices
from fm.sampler import Sampler
from fm.ring import Ring
import asyncio
if sys.argv[1] == "stylus":
    from boards import stylus as board
    d = devices.stylus(board)
else:
    from boards import grip as board
    d = devices.grip(board, None if sys.argv[2] == "-" else sys.argv[2])
print("FAULT", d.fault)
s = Sampler(Ring(160, d.channels.rec), d.channels, asyncio.ThreadSafeFlag(), d.use_timer)
print("RATE", s.configure(d.default_rate))
"""


@pytest.mark.parametrize(
    ("kind", "chip", "failing"),
    [("stylus", "-", "nau7802"), ("grip", "-", "nau7802"), ("grip", "ads1220", "ads1220")],
)
def test_the_kit_boots_with_the_fault_named(kind: str, chip: str, failing: str) -> None:
    proc = run_mpy(SCRIPT, kind, chip, failing)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fault = next(ln for ln in proc.stdout.splitlines() if ln.startswith("FAULT"))
    assert failing.upper() in fault.upper()
    assert "RATE" in proc.stdout


def test_a_healthy_kit_has_no_fault() -> None:
    proc = run_mpy(SCRIPT.replace("w.fail(sys.argv[3])", ""), "grip", "-", "x")
    assert "FAULT None" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize(("kind", "ldo_code"), [("stylus", 0b101), ("grip", 0b110)])
def test_each_device_sets_its_bridge_excitation(kind: str, ldo_code: int) -> None:
    # hardware/README.md: the stylus excites its tip cell at 3.0 V, the grip its 350 ohm
    # bridge at 2.7 V (within the NAU7802 regulator's 10 mA).
    code = SCRIPT.replace("w.fail(sys.argv[3])", "") + (
        "print('CTRL1', w.chips['nau7802'].regs[0x01])\n"
    )
    proc = run_mpy(code, kind, "-", "x")
    ctrl1 = next(int(ln.split()[1]) for ln in proc.stdout.splitlines() if ln.startswith("CTRL1"))
    assert (ctrl1 >> 3) & 0x07 == ldo_code
