"""Finding kits: a bleak scan filtered by the fine-motor service."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from finemotor.aio import wait_event
from finemotor.protocol.constants import SERVICE_UUID
from finemotor.transport.advert import KitAdvert, parse_advert
from finemotor.transport.bluetooth import bluetooth_unavailable


async def scan_kits(
    timeout: float = 5.0,
    kit_id: str | None = None,
    kind: str | None = None,
    backend: Any = None,
    until: Callable[[KitAdvert], bool] | None = None,
    known: Mapping[str, str] | None = None,
) -> list[KitAdvert]:
    """Scan for kits; the strongest signal first.

    Args:
        timeout: how long to listen, seconds: the longest wait when the scan can end early.
        kit_id: only the kit with this id (as on its label), if given; the scan ends as soon
            as that kit is heard (a kit id names one kit) unless ``until`` says otherwise.
        kind: only "stylus" or "grip" kits, if given.
        backend: bleak scanner backend (None: the operating system's radio).
        until: end the scan as soon as a kit for which this is true is heard.
        known: this computer's bonded kits, kit id by identity address (``Desk.known``): a
            kit that does not advertise its id (pairing window closed) is named by it, as the
            operating system reports a bonded kit by its identity whatever address it uses.

    Raises:
        BluetoothUnavailableError: this computer's Bluetooth cannot be used (says why).
    """
    wanted = kit_id.upper() if kit_id is not None else None
    ids = {a.upper(): i.upper() for a, i in (known or {}).items()}
    if until is None and wanted is not None:
        until = _any_kit
    found: dict[str, KitAdvert] = {}
    heard = asyncio.Event()

    def seen(device: BLEDevice, adv: AdvertisementData) -> None:
        kit = parse_advert(
            device.address,
            {k: bytes(v) for k, v in adv.manufacturer_data.items()},
            list(adv.service_uuids),
            adv.rssi,
            adv.local_name,
        )
        if kit is None:
            return
        if kit.kit_id is None and device.address.upper() in ids:
            kit = dataclasses.replace(kit, kit_id=ids[device.address.upper()])
        if wanted is not None and kit.kit_id != wanted:
            return
        if kind is not None and kit.kind != kind:
            return
        found[device.address] = kit  # the latest advertisement of each kit
        if until is not None and until(kit):
            heard.set()

    try:
        async with BleakScanner(seen, service_uuids=[SERVICE_UUID], backend=backend):
            await wait_event(heard, timeout)
    except Exception as exc:
        unavailable = bluetooth_unavailable(exc)
        if unavailable is None:
            raise
        raise unavailable from exc
    return sorted(found.values(), key=lambda k: -k.rssi)


def _any_kit(_kit: KitAdvert) -> bool:
    return True


def _pairing_open(kit: KitAdvert) -> bool:
    return kit.pairing_open


async def wait_for_pairing_window(
    kit_id: str, timeout: float = 60.0, backend: Any = None
) -> KitAdvert | None:
    """Scan until the kit with ``kit_id`` advertises an open pairing window (its button was
    pressed); None if that does not happen within ``timeout`` seconds."""
    kits = await scan_kits(timeout, kit_id=kit_id, backend=backend, until=_pairing_open)
    return next((k for k in kits if k.pairing_open), None)


async def wait_for_button(
    kind: str, timeout: float = 60.0, backend: Any = None, also_s: float = 1.0
) -> list[KitAdvert]:
    """Scan until some ``kind`` kit advertises an open pairing window (the facilitator pressed
    its button), then ``also_s`` more for any other kit whose window is open too (the caller
    refuses two at once); every such kit (empty if none within ``timeout``)."""
    first = await scan_kits(timeout, kind=kind, backend=backend, until=_pairing_open)
    if not any(k.pairing_open for k in first):
        return []
    more = await scan_kits(also_s, kind=kind, backend=backend)
    seen = {k.address: k for k in (*first, *more) if k.pairing_open}
    return sorted(seen.values(), key=lambda k: -k.rssi)
