"""This computer's Bluetooth, when it is not there: bleak's and D-Bus's failures named as what
is missing, so a command says one sentence (and where to look: ``finemotor doctor``) instead
of a traceback."""

from __future__ import annotations

import errno

from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
)

from finemotor.errors import BluetoothUnavailableError

_DOCTOR = "run `finemotor doctor` to see how to fix it"
_REASONS = {
    BleakBluetoothNotAvailableReason.NO_BLUETOOTH: (
        "no_adapter",
        "this computer has no Bluetooth adapter (or it is not plugged in)",
    ),
    BleakBluetoothNotAvailableReason.NO_BLE_CENTRAL_ROLE: (
        "no_adapter",
        "this computer's Bluetooth adapter cannot talk to Bluetooth Low Energy kits",
    ),
    BleakBluetoothNotAvailableReason.POWERED_OFF: (
        "powered_off",
        "Bluetooth is switched off on this computer: switch it on",
    ),
    BleakBluetoothNotAvailableReason.DENIED_BY_USER: (
        "denied",
        "this program is not allowed to use Bluetooth: allow it in the system settings",
    ),
    BleakBluetoothNotAvailableReason.DENIED_BY_SYSTEM: (
        "denied",
        "this user is not allowed to use Bluetooth on this computer",
    ),
    BleakBluetoothNotAvailableReason.DENIED_BY_UNKNOWN: (
        "denied",
        "this program is not allowed to use Bluetooth",
    ),
    BleakBluetoothNotAvailableReason.UNKNOWN: ("unknown", "Bluetooth is not available"),
}
_DBUS_ERRORS = {
    "org.freedesktop.DBus.Error.ServiceUnknown": (
        "no_bluez",
        "the Bluetooth service (bluetoothd) is not running",
    ),
    "org.freedesktop.DBus.Error.NameHasNoOwner": (
        "no_bluez",
        "the Bluetooth service (bluetoothd) is not running",
    ),
    "org.freedesktop.DBus.Error.AccessDenied": (
        "denied",
        "this user is not allowed to use Bluetooth on this computer",
    ),
    "org.bluez.Error.NotReady": ("powered_off", "Bluetooth is switched off on this computer"),
    "org.freedesktop.DBus.Error.Spawn.ChildExited": (
        "no_bluez",
        "the Bluetooth service (bluetoothd) could not be started",
    ),
}
_NO_BUS_ERRNOS = {errno.ENOENT, errno.ECONNREFUSED, errno.EACCES}


def bluetooth_unavailable(exc: BaseException) -> BluetoothUnavailableError | None:
    """The :class:`BluetoothUnavailableError` that ``exc`` (raised by bleak while reaching
    the computer's radio) means, or None if it is something else (a kit out of range...)."""
    if isinstance(exc, BluetoothUnavailableError):
        return exc
    found: tuple[str, str] | None = None
    if isinstance(exc, BleakBluetoothNotAvailableError):
        found = _REASONS.get(exc.reason, _REASONS[BleakBluetoothNotAvailableReason.UNKNOWN])
    elif isinstance(exc, BleakDBusError):
        found = _DBUS_ERRORS.get(exc.dbus_error)
    elif isinstance(exc, OSError) and exc.errno in _NO_BUS_ERRNOS:
        # bleak's first step on Linux is the D-Bus system bus; no socket means no bus.
        found = ("no_dbus", "Bluetooth cannot be reached: the system's D-Bus is not running")
    if found is None:
        return None
    reason, what = found
    return BluetoothUnavailableError(reason, f"{what}; {_DOCTOR}")
