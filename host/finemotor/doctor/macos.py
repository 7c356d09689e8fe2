"""macOS's checks: the Bluetooth controller and its power from ``system_profiler``; the
Bluetooth permission, which cannot be read, as a note."""

from __future__ import annotations

import json
import subprocess

from finemotor.doctor.system import System
from finemotor.doctor.verdict import NOTE, OK, PROBLEM, Check


def _run(cmd: list[str], timeout: float = 10.0) -> str | None:
    try:
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None


def macos_bluetooth_state(profile_json: str | None) -> tuple[bool | None, bool | None]:
    """(adapter present, powered on) from ``system_profiler SPBluetoothDataType -json``."""
    if not profile_json:
        return None, None
    try:
        data = json.loads(profile_json)
        items = data.get("SPBluetoothDataType") or []
    except (ValueError, AttributeError):
        return None, None
    if not items:
        return False, None
    controller = items[0].get("controller_properties") or items[0].get("local_device_title")
    if not controller:
        return False, None
    state = str(controller.get("controller_state", controller.get("general_power", "")))
    return True, ("on" in state.lower()) if state else None


def check_macos_bluetooth(s: System) -> list[Check]:
    """Adapter and power from system_profiler; the Bluetooth permission cannot be read."""
    present, on = macos_bluetooth_state(_run(["system_profiler", "SPBluetoothDataType", "-json"]))
    checks: list[Check] = []
    if present is False:
        checks.append(
            Check(
                "bluetooth-adapter",
                "Bluetooth adapter",
                PROBLEM,
                "no Bluetooth controller found",
                "this Mac reports no Bluetooth: plug in a supported adapter or use another Mac",
            )
        )
    elif on is False:
        checks.append(
            Check(
                "bluetooth-powered",
                "Bluetooth powered",
                PROBLEM,
                "Bluetooth is off",
                "turn it on: Control Centre → Bluetooth, or System Settings → Bluetooth",
            )
        )
    elif present:
        checks.append(Check("bluetooth-adapter", "Bluetooth adapter", OK, "present and on"))
    else:
        checks.append(
            Check(
                "bluetooth-adapter",
                "Bluetooth adapter",
                NOTE,
                "could not ask system_profiler",
                "check that Bluetooth is on in System Settings → Bluetooth",
            )
        )
    checks.append(
        Check(
            "bluetooth-permission",
            "Bluetooth permission",
            NOTE,
            "macOS asks the first time the terminal app uses Bluetooth (scan finds no kits if "
            "it was refused)",
            "allow your terminal app in System Settings → Privacy & Security → Bluetooth, "
            "then restart it",
        )
    )
    return checks
