"""The simulated student, loaded on the host to know the truth of a simulated session.

The same module runs inside the simulated kits (under MicroPython) and here (under CPython),
and gives the same forces for the same seed and time, so the host can say what a perfect
measurement of a simulated session would have reported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from finemotor.errors import FinemotorError, TransportError
from finemotor.firmware import firmware_dir


def student_path() -> Path:
    """``sim/student.py`` of the firmware tree (installed with the package, or the checkout's).

    Raises:
        FinemotorError: no firmware tree is there.
    """
    try:
        return firmware_dir() / "sim" / "student.py"
    except TransportError as exc:
        raise FinemotorError(f"the simulated student is not available: {exc}") from exc


def load_student_module() -> ModuleType:
    """Import the firmware tree's ``sim/student.py`` under CPython.

    Raises:
        FinemotorError: the firmware sources are not installed and there is no checkout.
    """
    path = student_path()
    spec = importlib.util.spec_from_file_location("finemotor_sim_student", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
