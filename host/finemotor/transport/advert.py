"""What a kit says in its advertisements: kind, kit id, battery, pairing window."""

from __future__ import annotations

from dataclasses import dataclass

from finemotor.protocol.constants import COMPANY_ID, KIND_CODES, SERVICE_UUID
from finemotor.samples import DeviceKind


@dataclass(frozen=True)
class KitAdvert:
    """One kit seen on the radio.

    Attributes:
        address: its Bluetooth address.
        kind: "stylus" or "grip".
        kit_id: the 6 hex digits on the kit's label.
        battery_percent: battery state of charge, %.
        pairing_open: the kit's pairing window is open (its button was pressed).
        rssi: signal strength, dBm (closer kits are stronger).
        name: the advertised name.
    """

    address: str
    kind: DeviceKind
    kit_id: str
    battery_percent: int
    pairing_open: bool
    rssi: int
    name: str

    def describe(self) -> str:
        """One line for the person at the desk."""
        pairing = ", pairing window OPEN" if self.pairing_open else ""
        return (
            f"{self.kind} kit {self.kit_id}: battery {self.battery_percent} %, "
            f"signal {self.rssi} dBm{pairing} ({self.address})"
        )


def parse_advert(
    address: str,
    manufacturer_data: dict[int, bytes],
    service_uuids: list[str],
    rssi: int,
    name: str | None,
) -> KitAdvert | None:
    """Read a kit's advertisement; None if it is not one of ours."""
    if SERVICE_UUID not in [u.lower() for u in service_uuids]:
        return None
    data = manufacturer_data.get(COMPANY_ID)
    if data is None or len(data) < 6 or data[0] not in KIND_CODES:
        return None
    return KitAdvert(
        address=address,
        kind=KIND_CODES[data[0]],
        kit_id=data[1:4].hex().upper(),
        battery_percent=data[4],
        pairing_open=bool(data[5]),
        rssi=rssi,
        name=name or "",
    )
