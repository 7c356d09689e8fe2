"""The computer's serial ports: which there are, and why one cannot be opened, in words that
say what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

import serial  # type: ignore[import-untyped]  # pyserial ships no type information
import serial.tools.list_ports  # type: ignore[import-untyped]


def available_ports() -> list[str]:
    """The serial ports this computer has now, with what they say they are."""
    return [
        f"{p.device} ({p.description})" if p.description and p.description != "n/a" else p.device
        for p in sorted(serial.tools.list_ports.comports(), key=lambda p: p.device)
    ]


def _ports_hint() -> str:
    found = available_ports()
    if not found:
        return "No serial ports are connected now."
    return "Serial ports now: " + ", ".join(found) + "."


def port_problem(port: str) -> str:
    """Why ``port`` cannot be opened, in words that say what to do (opens and closes it)."""
    try:
        s = serial.Serial(port, 115200, timeout=0.1, exclusive=True)
    except serial.SerialException as exc:
        text = str(exc)
        errno = getattr(exc, "errno", None)
        if errno == 2 or "No such file" in text or "FileNotFoundError" in text:
            return (
                f"There is no serial port {port}: plug the kit in with a USB data cable (some "
                f"cables only charge) and check the port's name. {_ports_hint()}"
            )
        if errno == 13 or "Permission denied" in text or "PermissionError" in text:
            if os.name == "posix" and Path("/etc/group").exists():
                return (
                    f"This user may not open {port}: run `sudo usermod -aG dialout $USER`, log "
                    "out and back in, and try again (`finemotor doctor` checks this)."
                )
            return f"This user may not open {port} ({text}): ask the computer's administrator."
        if (
            errno in (11, 16)
            or "lock" in text
            or "busy" in text.lower()
            or "Access is denied" in (text)
        ):
            return (
                f"{port} is in use by another program: close serial monitors, Thonny, the "
                "Arduino IDE or another finemotor command, then try again."
            )
        return f"{port} cannot be opened ({text}): unplug the kit, plug it back in, try again."
    s.close()
    return f"{port} opened, but mpremote could not use it: unplug the kit, plug it back in."
