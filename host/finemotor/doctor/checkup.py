"""The whole check-up: the common checks, then this platform's, in the order to fix them; and
the verdicts as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict

from finemotor.doctor.common import check_database, check_dependencies, check_python
from finemotor.doctor.linux import check_linux_bluetooth, check_serial_permission
from finemotor.doctor.macos import check_macos_bluetooth
from finemotor.doctor.system import System
from finemotor.doctor.verdict import NOTE, Check
from finemotor.doctor.windows import check_windows_bluetooth


def run_checks(system: System | None = None) -> list[Check]:
    """Every check for ``system`` (this computer by default), in the order to fix them."""
    s = system or System()
    checks = [check_python(s), check_dependencies(s), check_database(s)]
    if s.linux:
        checks += check_linux_bluetooth(s)
        checks.append(check_serial_permission(s))
    elif s.platform == "darwin":
        checks += check_macos_bluetooth(s)
    elif s.platform == "win32":
        checks += check_windows_bluetooth(s)
    else:
        checks.append(
            Check(
                "platform",
                "Operating system",
                NOTE,
                f"{s.platform} is not one the kit is tested on",
                "use Linux, macOS 12+ or Windows 10/11",
            )
        )
    return checks


def to_json(checks: list[Check], system: System | None = None) -> str:
    """The checks as one JSON object: ``{"ok", "platform", "checks": [...]}``."""
    s = system or System()
    return json.dumps(
        {
            "ok": all(c.ok for c in checks),
            "platform": s.platform,
            "checks": [{**asdict(c), "ok": c.ok} for c in checks],
        }
    )
