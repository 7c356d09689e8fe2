"""A bleak scanner backend that listens on the virtual radio's link."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any, ClassVar, Literal

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.uuids import normalize_uuid_16, normalize_uuid_32, normalize_uuid_str
from bumble import hci
from bumble.device import Advertisement

from finemotor.transport.virtual.radio import VirtualRadio, normalize_address

__all__ = ["VirtualBleakScanner", "VirtualDeviceDetails", "advertisement_data"]

# AD types (Bluetooth Core Specification Supplement, part A, section 1)
_UUID16_LISTS = (0x02, 0x03)
_UUID32_LISTS = (0x04, 0x05)
_UUID128_LISTS = (0x06, 0x07)
_SHORT_NAME = 0x08
_COMPLETE_NAME = 0x09
_TX_POWER = 0x0A
_SERVICE_DATA_16 = 0x16
_SERVICE_DATA_32 = 0x20
_SERVICE_DATA_128 = 0x21
_MANUFACTURER = 0xFF


@dataclasses.dataclass(frozen=True)
class VirtualDeviceDetails:
    """What ``BLEDevice.details`` holds for a device found on the virtual link.

    Attributes:
        radio: the radio whose link it advertises on (a client connects through it).
        address: its bumble address, with its type (public or random).
        advertisement: the bumble advertisement it was last seen with.
    """

    radio: VirtualRadio
    address: hci.Address
    advertisement: Advertisement


def _uuid128(value: bytes) -> str:
    return str(uuid.UUID(bytes=value[::-1]))


def advertisement_data(advertisement: Advertisement) -> AdvertisementData:
    """Turns a bumble advertisement (advertising data + scan response) into bleak's form."""
    local_name: str | None = None
    short_name: str | None = None
    manufacturer_data: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    service_uuids: list[str] = []
    tx_power: int | None = None
    for ad_type, value in advertisement.data.ad_structures:
        kind = int(ad_type)
        if kind in _UUID16_LISTS:
            service_uuids += [
                normalize_uuid_16(int.from_bytes(value[i : i + 2], "little"))
                for i in range(0, len(value) - 1, 2)
            ]
        elif kind in _UUID32_LISTS:
            service_uuids += [
                normalize_uuid_32(int.from_bytes(value[i : i + 4], "little"))
                for i in range(0, len(value) - 3, 4)
            ]
        elif kind in _UUID128_LISTS:
            service_uuids += [_uuid128(value[i : i + 16]) for i in range(0, len(value) - 15, 16)]
        elif kind == _COMPLETE_NAME:
            local_name = value.decode("utf-8", "replace")
        elif kind == _SHORT_NAME:
            short_name = value.decode("utf-8", "replace")
        elif kind == _TX_POWER and value:
            tx_power = int.from_bytes(value[:1], "little", signed=True)
        elif kind == _SERVICE_DATA_16 and len(value) >= 2:
            service_data[normalize_uuid_16(int.from_bytes(value[:2], "little"))] = bytes(value[2:])
        elif kind == _SERVICE_DATA_32 and len(value) >= 4:
            service_data[normalize_uuid_32(int.from_bytes(value[:4], "little"))] = bytes(value[4:])
        elif kind == _SERVICE_DATA_128 and len(value) >= 16:
            service_data[_uuid128(value[:16])] = bytes(value[16:])
        elif kind == _MANUFACTURER and len(value) >= 2:
            manufacturer_data[int.from_bytes(value[:2], "little")] = bytes(value[2:])
    return AdvertisementData(
        local_name=local_name if local_name is not None else short_name,
        manufacturer_data=manufacturer_data,
        service_data=service_data,
        service_uuids=list(dict.fromkeys(service_uuids)),
        tx_power=tx_power,
        rssi=advertisement.rssi,
        platform_data=(advertisement,),
    )


class VirtualBleakScanner(BaseBleakScanner):
    """``BleakScanner`` backend for the virtual radio: pass it as ``backend=``.

    The radio is the one bound with :meth:`bound_to` (``radio.scanner_backend``), else the
    one radio running in the current event loop. Every scanner of a radio shares its
    adapter's scan, as scanners share a real adapter; ``scanning_mode="passive"`` leaves the
    scan responses (and so the kits' names) out unless another scanner is active.
    """

    radio: ClassVar[VirtualRadio | None] = None
    """The radio this class is bound to; None: the running one."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        if service_uuids is not None:  # "180F" and the full form match alike
            self._service_uuids = [normalize_uuid_str(u) for u in service_uuids]
        self._active = scanning_mode != "passive"
        self._scanning_radio: VirtualRadio | None = None

    @classmethod
    def bound_to(cls, radio: VirtualRadio) -> type[VirtualBleakScanner]:
        """A subclass that always scans on ``radio``."""
        return type(cls.__name__, (cls,), {"radio": radio, "__module__": cls.__module__})

    def _resolve_radio(self) -> VirtualRadio:
        return type(self).radio or VirtualRadio.current()

    async def start(self) -> None:
        """Starts scanning on the virtual link."""
        radio = self._resolve_radio()
        if self._scanning_radio is not None:
            await self.stop()
        self.seen_devices = {}
        self._scanning_radio = radio
        await radio.add_scan_listener(self, self._on_advertisement, active=self._active)

    async def stop(self) -> None:
        """Stops scanning (the adapter keeps scanning for other scanners)."""
        radio, self._scanning_radio = self._scanning_radio, None
        if radio is not None and radio.running:
            await radio.remove_scan_listener(self)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        radio = self._scanning_radio
        if radio is None:
            return
        # A bonded device's resolvable private address is reported as its identity, as the
        # operating systems' stacks do; any other address as it is on the air.
        identity = radio.resolve(advertisement.address)
        shown = advertisement.address if identity is None else identity
        address = normalize_address(shown.to_string(False))
        adv = advertisement_data(advertisement)
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        previous = self.seen_devices.get(address)
        name = adv.local_name
        if name is None and previous is not None:
            name = previous[0].name
        details = VirtualDeviceDetails(radio, advertisement.address, advertisement)
        device = self.create_or_update_device(address, address, name, details, adv)
        device.details = details
        self.call_detection_callbacks(device, adv)
