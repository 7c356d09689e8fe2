"""Linux's checks: the Bluetooth adapter in sysfs, rfkill, BlueZ over D-Bus (reachable,
permitted, powered), and the permission to open a kit's USB serial port."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

from finemotor.doctor.system import System
from finemotor.doctor.verdict import OK, PROBLEM, Check

_BLUEZ = "org.bluez"
_SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"


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
