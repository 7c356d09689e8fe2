"""Where the checks look: this computer, or a folder laid out like ``/sys`` and ``/dev``, a
private D-Bus, or another platform's name."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class System:
    """Where the checks look (this computer by default).

    Attributes:
        platform: ``"linux"``, ``"darwin"`` or ``"win32"`` (``sys.platform``).
        root: prefix for ``/sys``, ``/dev`` and ``/etc/group`` (a folder laid out like them).
        dbus_address: the system bus (None: ``$DBUS_SYSTEM_BUS_ADDRESS``, else the default).
        user: the user name; ``groups``: the group names this process has (None: its own).
        db_path: the recording database (None: ``finemotor.recording.default_db_path()``).
        python: the Python version.
        dbus_timeout: seconds for D-Bus to answer.
    """

    platform: str = sys.platform
    root: Path = Path("/")
    dbus_address: str | None = None
    user: str | None = None
    groups: set[str] | None = None
    db_path: Path | None = None
    python: tuple[int, int, int] = field(default_factory=lambda: sys.version_info[:3])
    dbus_timeout: float = 3.0

    def path(self, absolute: str) -> Path:
        """``absolute`` (``/sys/class/bluetooth``) under :attr:`root`."""
        return self.root / absolute.lstrip("/")

    @property
    def linux(self) -> bool:
        """True on Linux."""
        return self.platform.startswith("linux")
