"""Windows's checks: the version (Bluetooth LE needs 10 version 1709), WinRT's Bluetooth
packages, an adapter with its radio on."""

from __future__ import annotations

import asyncio
import contextlib
import platform

from finemotor.doctor.system import System
from finemotor.doctor.verdict import OK, PROBLEM, Check


def check_windows_bluetooth(s: System) -> list[Check]:
    """Windows 10 1709 or newer, WinRT's Bluetooth packages, an adapter with its radio on."""
    checks: list[Check] = []
    build = 0
    with contextlib.suppress(ValueError, IndexError):
        build = int(platform.version().split(".")[2])
    if build and build < 16299:
        checks.append(
            Check(
                "windows",
                "Windows version",
                PROBLEM,
                f"build {build}: Bluetooth LE needs Windows 10 version 1709 or newer",
                "install Windows updates (Settings → Windows Update)",
            )
        )
    try:
        from winrt.windows.devices.bluetooth import (  # type: ignore[import-not-found]  # noqa: PLC0415
            BluetoothAdapter,
        )
        from winrt.windows.devices.radios import (  # type: ignore[import-not-found]  # noqa: PLC0415
            RadioState,
        )
    except Exception as exc:
        checks.append(
            Check(
                "winrt",
                "WinRT Bluetooth",
                PROBLEM,
                f"cannot load WinRT ({type(exc).__name__})",
                "py -m pip install --upgrade --force-reinstall bleak finemotor",
            )
        )
        return checks

    async def state() -> tuple[bool, bool | None]:
        adapter = await BluetoothAdapter.get_default_async()
        if adapter is None:
            return False, None
        radio = await adapter.get_radio_async()
        return True, (radio is not None and radio.state == RadioState.ON)

    try:
        present, on = asyncio.run(state())
    except Exception as exc:
        present, on = False, None
        detail = f"WinRT could not list adapters ({exc})"
    else:
        detail = "no Bluetooth adapter found"
    if not present:
        checks.append(
            Check(
                "bluetooth-adapter",
                "Bluetooth adapter",
                PROBLEM,
                detail,
                "plug in a Bluetooth 4.0+ adapter and check Device Manager → Bluetooth",
            )
        )
    elif not on:
        checks.append(
            Check(
                "bluetooth-powered",
                "Bluetooth powered",
                PROBLEM,
                "Bluetooth is off",
                "turn it on: Settings → Bluetooth & devices (and airplane mode off)",
            )
        )
    else:
        checks.append(Check("bluetooth-adapter", "Bluetooth adapter", OK, "present and on"))
    return checks
