"""Is this computer ready for the kit? ``finemotor doctor``.

Each check looks at one thing (the Bluetooth adapter, BlueZ, the Python packages, the
recording folder, the serial port permission...) and says ``ok``, ``problem`` with a one-line
fix for this computer's system, or ``note`` (something the check cannot see, with what to do
if it goes wrong). Where they look is a :class:`System`, so the checks run as well against a
folder laid out like ``/sys`` and ``/dev``, a private D-Bus, or another platform's name.

:mod:`~finemotor.doctor.common` holds the checks every platform runs;
:mod:`~finemotor.doctor.linux`, :mod:`~finemotor.doctor.macos` and
:mod:`~finemotor.doctor.windows` each platform's own; :mod:`~finemotor.doctor.checkup` runs
them; :mod:`~finemotor.doctor.verdict` and :mod:`~finemotor.doctor.system` hold what a check
says and where it looks.
"""

from __future__ import annotations

from finemotor.doctor.checkup import run_checks, to_json
from finemotor.doctor.common import (
    DEPENDENCIES,
    MIN_PYTHON,
    check_database,
    check_dependencies,
    check_python,
)
from finemotor.doctor.linux import check_linux_bluetooth, check_serial_permission
from finemotor.doctor.macos import check_macos_bluetooth, macos_bluetooth_state
from finemotor.doctor.system import System
from finemotor.doctor.verdict import NOTE, OK, PROBLEM, Check
from finemotor.doctor.windows import check_windows_bluetooth

__all__ = [
    "DEPENDENCIES",
    "MIN_PYTHON",
    "NOTE",
    "OK",
    "PROBLEM",
    "Check",
    "System",
    "check_database",
    "check_dependencies",
    "check_linux_bluetooth",
    "check_macos_bluetooth",
    "check_python",
    "check_serial_permission",
    "check_windows_bluetooth",
    "macos_bluetooth_state",
    "run_checks",
    "to_json",
]
