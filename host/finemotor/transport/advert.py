"""What a kit says in its advertisements: kind; and kit id, battery, pairing window while its
pairing window is open (docs/protocol.md, "Advertising"). Outside the window a kit says only
that it is a fine-motor kit of some kind, from an address it renews every 15 minutes: this
computer knows its bonded kits by the identity its Bluetooth stack resolves that address to."""

from __future__ import annotations

from dataclasses import dataclass

from finemotor.protocol.constants import COMPANY_ID, KIND_CODES, SERVICE_UUID
from finemotor.samples import DeviceKind


@dataclass(frozen=True)
class KitAdvert:
    """One kit seen on the radio.

    Attributes:
        address: its Bluetooth address (a bonded kit's identity, else the address on the air).
        kind: "stylus" or "grip".
        kit_id: the 6 hex digits on the kit's label; None when the kit does not say it (its
            pairing window is closed) and this computer does not know the kit.
        battery_percent: battery state of charge, %; None outside the pairing window.
        pairing_open: the kit's pairing window is open (its button was pressed).
        rssi: signal strength, dBm (closer kits are stronger).
        name: the advertised name.
    """

    address: str
    kind: DeviceKind
    kit_id: str | None
    battery_percent: int | None
    pairing_open: bool
    rssi: int
    name: str

    def describe(self) -> str:
        """One line for the person at the desk."""
        pairing = ", pairing window OPEN" if self.pairing_open else ""
        who = self.kit_id or "(id shown while its pairing window is open)"
        battery = "" if self.battery_percent is None else f"battery {self.battery_percent} %, "
        return f"{self.kind} kit {who}: {battery}signal {self.rssi} dBm{pairing} ({self.address})"


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
    if data is None or len(data) < 1 or data[0] not in KIND_CODES:
        return None
    whole = len(data) >= 6  # kit id, battery and pairing flag: the pairing window is open
    return KitAdvert(
        address=address,
        kind=KIND_CODES[data[0]],
        kit_id=data[1:4].hex().upper() if whole else None,
        battery_percent=data[4] if whole else None,
        pairing_open=whole and bool(data[5]),
        rssi=rssi,
        name=name or "",
    )
