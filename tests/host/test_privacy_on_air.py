"""Privacy on the air, from the host's side: a simulated kit (its firmware under MicroPython) on
the virtual radio, paired at the desk, then found again under a new address by its bond.

The kit advertises from resolvable private addresses and says its id only while its pairing
window is open (docs/protocol.md, "Advertising"); this computer's stack resolves a bonded kit's
address to its identity, which ``kits.json`` remembers (docs/security.md).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiotest import eventually, run
from bleak import BleakClient
from bleak.exc import BleakGATTProtocolError
from bumble.device import Advertisement, Connection

from finemotor.desk import Desk
from finemotor.kitlink import KitLink
from finemotor.pairing import pair_at_desk
from finemotor.protocol.constants import COMPANY_ID
from finemotor.transport.advert import parse_advert
from finemotor.transport.scan import scan_kits
from finemotor.transport.virtual import VirtualRadio
from finemotor.transport.virtual.scanner import advertisement_data
from finemotor.transport.virtual.simkit import SimKit

KIT_ID = "1A2B3C"
MODEL, SERIAL, BATTERY_LEVEL = "2A24", "2A25", "2A19"
INSUFFICIENT_ENCRYPTION = 0x0F


def test_parse_advert_reads_both_forms() -> None:
    uuid = ["4d2f0001-b1a6-4c1e-9f3a-6e6b5f1a7c20"]
    window = parse_advert("x", {COMPANY_ID: bytes.fromhex("021a2b3c3f01")}, uuid, -50, "n")
    closed = parse_advert("x", {COMPANY_ID: b"\x02"}, uuid, -50, None)
    assert window is not None and window.kit_id == KIT_ID and window.battery_percent == 0x3F
    assert window.pairing_open
    assert closed is not None and closed.kind == "grip"
    assert closed.kit_id is None and closed.battery_percent is None and not closed.pairing_open
    assert "grip kit" in closed.describe()
    assert parse_advert("x", {COMPANY_ID: b"\x09"}, uuid, -50, None) is None  # not a kind


def test_a_bonded_kit_is_found_under_a_new_address_and_only_by_its_computer(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with VirtualRadio() as radio, SimKit(radio, "stylus", kit_id=KIT_ID) as kit:
            heard: list[Advertisement] = []  # what anyone in range hears, as it is on the air
            await radio.add_scan_listener(object(), heard.append)
            desk = Desk(tmp_path / "kits.json")

            # A computer that connects without pairing reads nothing that tells kits apart.
            async with BleakClient(
                kit.bridge.advertised_address, backend=radio.client_backend, timeout=5.0
            ) as client:
                assert await client.read_gatt_char(MODEL) == b"FM-STYLUS-1"  # every stylus's
                for uuid in (SERIAL, BATTERY_LEVEL):
                    with pytest.raises(BleakGATTProtocolError) as refused:
                        await client.read_gatt_char(uuid)
                    assert refused.value.code == INSUFFICIENT_ENCRYPTION

            async def confirm(_question: str) -> bool:
                return True

            def press(_kind: str) -> bool:
                kit.press_button(300)
                return True

            paired = await pair_at_desk(
                "stylus",
                desk,
                lambda _line: None,
                confirm,
                radio.scanner_backend,
                radio.client_backend,
                press,
                timeout=10.0,
            )
            # The desk remembers the identity the bond gave, not the address on the air.
            assert paired.address == kit.address != kit.bridge.advertised_address
            assert Desk(tmp_path / "kits.json").known() == {kit.address: KIT_ID}

            def on_air(ad: Advertisement) -> bytes:
                return advertisement_data(ad).manufacturer_data.get(COMPANY_ID, b"")

            # The window closed with the pairing: the kind alone on the air from then on.
            await eventually(lambda: bool(heard) and on_air(heard[-1]) == b"\x01", 5.0)
            closed_from = len(heard) - 1  # that one included
            first = kit.bridge.advertised_address
            kit.renew_address()  # the controller's 15-minute timer
            await eventually(lambda: kit.bridge.advertised_address != first, 5.0)
            await asyncio.sleep(0.6)  # a few advertisements from the new address

            # Anyone in range: only changing addresses, never the identity, nothing else.
            after = heard[closed_from:]
            addresses = {a.address.to_string(False) for a in after}
            assert {first, kit.bridge.advertised_address} <= addresses
            assert kit.address not in addresses
            assert {on_air(a) for a in after} == {b"\x01"}
            assert await scan_kits(1.0, kit_id=KIT_ID, backend=radio.scanner_backend) == []

            # This computer: its stack resolves the new address to the bonded identity.
            found = await scan_kits(
                3.0, kit_id=KIT_ID, backend=radio.scanner_backend, known=desk.known()
            )
            assert [(k.address, k.kit_id, k.pairing_open) for k in found] == [
                (kit.address, KIT_ID, False)
            ]
            assert found[0].battery_percent is None  # read from the kit once connected

            pairings = [0]

            def on_connection(connection: Connection) -> None:
                def started() -> None:
                    pairings[0] += 1

                connection.on(Connection.EVENT_PAIRING_START, started)

            kit.device.on("connection", on_connection)
            link = KitLink(found[0].address, backend=radio.client_backend, timeout=5.0)
            await link.open()  # encrypted with the bond: status needs it
            try:
                assert pairings[0] == 0
                assert link.status is not None and 0 < link.status.battery_percent <= 100
            finally:
                await link.close()

    run(main(), 90.0)
