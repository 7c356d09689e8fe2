"""Finding kits: a bleak scan filtered by the fine-motor service."""

from __future__ import annotations

import asyncio
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
) -> list[KitAdvert]:
    """Scan for kits; the strongest signal first.

    Args:
        timeout: how long to listen, seconds. With ``kit_id`` the scan ends as soon as that
            kit is heard (a kit id names one kit), so ``timeout`` is only the longest wait.
        kit_id: only the kit with this id (as on its label), if given.
        kind: only "stylus" or "grip" kits, if given.
        backend: bleak scanner backend (None: the operating system's radio).

    Raises:
        BluetoothUnavailableError: this computer's Bluetooth cannot be used (says why).
    """
    wanted = kit_id.upper() if kit_id is not None else None
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
        if kit is None or (wanted is not None and kit.kit_id != wanted):
            return
        if kind is not None and kit.kind != kind:
            return
        found[device.address] = kit  # the latest advertisement of each kit
        if wanted is not None:
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


async def wait_for_pairing_window(
    kit_id: str, timeout: float = 60.0, backend: Any = None
) -> KitAdvert | None:
    """Scan until the kit with ``kit_id`` advertises an open pairing window (its button was
    pressed); None if that does not happen within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for kit in await scan_kits(1.0, kit_id=kit_id, backend=backend):
            if kit.pairing_open:
                return kit
    return None


async def wait_for_button(kind: str, timeout: float = 60.0, backend: Any = None) -> list[KitAdvert]:
    """Scan until some ``kind`` kit advertises an open pairing window (the facilitator pressed
    its button); return every such kit seen in that scan (empty if none within ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        kits = [k for k in await scan_kits(1.0, kind=kind, backend=backend) if k.pairing_open]
        if kits:
            return kits
    return []
