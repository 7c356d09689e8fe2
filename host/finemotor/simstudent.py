"""The simulated student, loaded on the host to know the truth of a simulated session.

The same module runs inside the simulated kits (under MicroPython) and here (under CPython),
and gives the same forces for the same seed and time, so the host can say what a perfect
measurement of a simulated session would have reported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from finemotor.errors import FinemotorError

STUDENT_PATH = Path(__file__).resolve().parents[2] / "firmware" / "sim" / "student.py"


def load_student_module() -> ModuleType:
    """Import firmware/sim/student.py from the source tree.

    Raises:
        FinemotorError: the kit's firmware sources are not beside this package (the
            simulation needs a checkout of the project, not only the installed package).
    """
    if not STUDENT_PATH.exists():
        raise FinemotorError(
            f"the simulated student ({STUDENT_PATH.name}) is not beside this package: run the "
            "simulation from a checkout of the finemotor project"
        )
    spec = importlib.util.spec_from_file_location("finemotor_sim_student", STUDENT_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
