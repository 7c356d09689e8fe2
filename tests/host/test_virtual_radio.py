"""The virtual radio through bleak's public API: scan, connect, GATT, pairing, link cuts.

Each test scripts its peripherals with bumble directly (GATT table, pairing config,
advertising) on the radio's link, and drives them with ``BleakScanner`` / ``BleakClient``
given ``backend=`` the virtual backend, all in one asyncio loop run by ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiotest import eventually, run
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.hci import Address
from bumble.host import Host
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport.common import AsyncPipeSink

from finemotor.errors import FinemotorError, TransportError
from finemotor.transport.virtual import (
    DEFAULT_MTU,
    DEFAULT_RSSI,
    VirtualBleakClient,
    VirtualBleakScanner,
    VirtualLinkError,
    VirtualRadio,
)

SERVICE = "4d2f0001-b1a6-4c1e-9f3a-6e6b5f1a7c20"
DATA = "4d2f0002-b1a6-4c1e-9f3a-6e6b5f1a7c20"  # notify
CONTROL = "4d2f0003-b1a6-4c1e-9f3a-6e6b5f1a7c20"  # write with response, encrypted link only
STATUS = "4d2f0004-b1a6-4c1e-9f3a-6e6b5f1a7c20"  # read
IDENTIFY = "4d2f00f0-b1a6-4c1e-9f3a-6e6b5f1a7c20"  # write without response, open
BATTERY_SERVICE = "0000180f-0000-1000-8000-00805f9b34fb"
CCCD = "00002902-0000-1000-8000-00805f9b34fb"

STYLUS = "F0:00:00:00:00:02"
GRIP = "F0:00:00:00:00:03"


class Kit:
    """A scripted peripheral: the fine-motor service on a bumble device, and what it saw."""

    def __init__(self, device: Device, name: str, kind: int) -> None:
        self.device = device
        self.name = name
        self.writes: list[bytes] = []
        self.identify: list[bytes] = []
        self.connections: list[Connection] = []
        self.disconnect_reasons: list[int] = []
        self.pairings = 0
        self.status = bytes(range(20))
        self.read_gate: asyncio.Event | None = None
        self.data = Characteristic(
            DATA, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b""
        )
        control = Characteristic(
            CONTROL,
            Characteristic.Properties.WRITE,
            Characteristic.WRITEABLE | Characteristic.WRITE_REQUIRES_ENCRYPTION,
            CharacteristicValue(write=lambda _c, value: self.writes.append(bytes(value))),
        )
        status = Characteristic(
            STATUS,
            Characteristic.Properties.READ,
            Characteristic.READABLE,
            CharacteristicValue(read=self._read_status),
        )
        identify = Characteristic(
            IDENTIFY,
            Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            Characteristic.WRITEABLE,
            CharacteristicValue(write=lambda _c, value: self.identify.append(bytes(value))),
        )
        device.add_service(Service(SERVICE, [self.data, control, status, identify]))
        device.pairing_config_factory = lambda _c: PairingConfig(
            sc=True,
            mitm=False,
            bonding=True,
            delegate=PairingDelegate(io_capability=PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT),
        )
        device.on(Device.EVENT_CONNECTION, self._on_connection)
        self.advertising = bytes(
            AdvertisingData(
                [
                    (AdvertisingData.FLAGS, bytes([0x06])),
                    (
                        AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                        bytes(UUID(SERVICE)),
                    ),
                    (
                        AdvertisingData.MANUFACTURER_SPECIFIC_DATA,
                        bytes([0xFF, 0xFF, kind, 0x1A, 0x2B, 0x3C, 87, 1]),
                    ),
                ]
            )
        )
        self.scan_response = bytes(
            AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, name.encode())])
        )

    async def _read_status(self, _connection: Connection) -> bytes:
        if self.read_gate is not None:
            await self.read_gate.wait()
        return self.status

    def _on_connection(self, connection: Connection) -> None:
        self.connections.append(connection)
        connection.on(Connection.EVENT_DISCONNECTION, self.disconnect_reasons.append)
        connection.on(Connection.EVENT_PAIRING, lambda _keys: self._paired())

    def _paired(self) -> None:
        self.pairings += 1

    @property
    def connected(self) -> bool:
        return bool(self.device.connections)

    async def advertise(self) -> None:
        await self.device.start_advertising(
            advertising_data=self.advertising,
            scan_response_data=self.scan_response,
            auto_restart=True,
            advertising_interval_min=20,
            advertising_interval_max=20,
        )

    async def notify(self, value: bytes) -> None:
        await self.device.notify_subscribers(self.data, value)


async def add_kit(
    radio: VirtualRadio, address: str, name: str, kind: int = 1, advertise: bool = True
) -> Kit:
    kit = Kit(await radio.add_peripheral(address, name=name), name, kind)
    if advertise:
        await kit.advertise()
    return kit


# Discovery


def test_discover_reports_advertisement_fields() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C", kind=1)
            radio.set_rssi(STYLUS, -71)
            found = await BleakScanner.discover(0.2, return_adv=True, backend=VirtualBleakScanner)
            assert list(found) == [STYLUS]
            device, adv = found[STYLUS]
            assert device.address == STYLUS
            assert device.name == "finemotor stylus 1A2B3C"
            assert adv.local_name == "finemotor stylus 1A2B3C"  # from the scan response
            assert adv.service_uuids == [SERVICE]
            assert adv.manufacturer_data == {0xFFFF: bytes([1, 0x1A, 0x2B, 0x3C, 87, 1])}
            assert adv.rssi == -71
            assert adv.tx_power is None

    run(main())


def test_default_rssi_and_passive_scan_without_scan_response() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C")
            found = await BleakScanner.discover(
                0.2, return_adv=True, scanning_mode="passive", backend=VirtualBleakScanner
            )
            _device, adv = found[STYLUS]
            assert adv.rssi == DEFAULT_RSSI
            assert adv.local_name is None  # names travel in the scan response only
            assert adv.service_uuids == [SERVICE]

    run(main())


def test_service_filter_and_detection_callback() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C")
            other = await radio.add_peripheral(GRIP, name="a thermometer")
            await other.start_advertising(
                advertising_data=bytes(
                    AdvertisingData(
                        [
                            (AdvertisingData.FLAGS, bytes([0x06])),
                            (
                                AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                                bytes.fromhex("0f18"),
                            ),
                        ]
                    )
                ),
                advertising_interval_min=20,
                advertising_interval_max=20,
            )
            ours = await BleakScanner.discover(
                0.2, service_uuids=[SERVICE], backend=VirtualBleakScanner
            )
            assert [d.address for d in ours] == [STYLUS]
            theirs = await BleakScanner.discover(
                0.2, service_uuids=["180F"], backend=VirtualBleakScanner
            )
            assert [d.address for d in theirs] == [GRIP]

            seen: dict[str, list[str]] = {}

            def on_detect(device: Any, adv: Any) -> None:
                seen.setdefault(device.address, []).extend(adv.service_uuids)

            async with BleakScanner(on_detect, backend=VirtualBleakScanner):
                await eventually(lambda: len(seen) == 2)
            assert set(seen[GRIP]) == {BATTERY_SERVICE}
            count = sum(len(v) for v in seen.values())
            await asyncio.sleep(0.1)
            assert sum(len(v) for v in seen.values()) == count  # stopped: nothing more

    run(main())


# Connection and GATT


def test_connect_discovers_services_reads_writes_and_negotiates_mtu() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            kit = await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C")
            device = await BleakScanner.find_device_by_name(
                kit.name, timeout=1.0, backend=VirtualBleakScanner
            )
            assert device is not None
            async with BleakClient(device, backend=VirtualBleakClient, timeout=2.0) as client:
                assert client.is_connected
                assert kit.connected
                assert client.mtu_size == DEFAULT_MTU
                assert client.name == kit.name
                service = client.services.get_service(SERVICE)
                assert service is not None
                chars = {c.uuid: c for c in service.characteristics}
                assert set(chars) == {DATA, CONTROL, STATUS, IDENTIFY}
                assert chars[DATA].properties == ["notify"]
                assert [d.uuid for d in chars[DATA].descriptors] == [CCCD]
                assert chars[CONTROL].properties == ["write"]
                assert chars[IDENTIFY].properties == ["write-without-response"]
                assert chars[IDENTIFY].max_write_without_response_size == DEFAULT_MTU - 3

                assert await client.read_gatt_char(STATUS) == bytearray(kit.status)
                kit.status = b"\x01changed"
                assert await client.read_gatt_char(chars[STATUS]) == b"\x01changed"
                cccd = chars[DATA].descriptors[0]
                assert await client.read_gatt_descriptor(cccd) == b"\x00\x00"

                await client.write_gatt_char(IDENTIFY, b"\x05", response=False)
                await eventually(lambda: kit.identify == [b"\x05"])
            assert not client.is_connected
            await eventually(lambda: not kit.connected)

    run(main())


def test_connect_by_address_string_and_service_filter() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C")
            client = BleakClient(
                STYLUS.lower(), services=[SERVICE], backend=VirtualBleakClient, timeout=2.0
            )
            async with client:
                assert [s.uuid for s in client.services] == [SERVICE]
                assert client.address == STYLUS

    run(main())


def test_notifications_at_200_per_second_arrive_all_and_in_order() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            kit = await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C")
            received: list[tuple[str, bytes]] = []

            def on_data(char: BleakGATTCharacteristic, data: bytearray) -> None:
                assert isinstance(data, bytearray)
                received.append((char.uuid, bytes(data)))

            async with BleakClient(STYLUS, backend=VirtualBleakClient, timeout=2.0) as client:
                await client.start_notify(DATA, on_data)
                count = 100
                frame = bytes(range(200))  # a full-MTU-sized frame
                start = time.perf_counter()
                for i in range(count):
                    await kit.notify(i.to_bytes(2, "little") + frame)
                    await asyncio.sleep(max(0.0, start + (i + 1) / 200 - time.perf_counter()))
                await eventually(lambda: len(received) >= count)
                await asyncio.sleep(0.02)
                assert len(received) == count
                assert [int.from_bytes(d[:2], "little") for _, d in received] == list(range(count))
                assert all(uuid == DATA and d[2:] == frame for uuid, d in received)

                await client.stop_notify(DATA)
                await kit.notify(b"after stop")
                await asyncio.sleep(0.05)
                assert len(received) == count

    run(main())


def test_async_notification_callback() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            kit = await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C")
            received: list[bytes] = []

            async def on_data(_char: BleakGATTCharacteristic, data: bytearray) -> None:
                await asyncio.sleep(0)
                received.append(bytes(data))

            async with BleakClient(STYLUS, backend=VirtualBleakClient, timeout=2.0) as client:
                await client.start_notify(DATA, on_data)
                for i in range(5):
                    await kit.notify(bytes([i]))
                await eventually(lambda: len(received) == 5)
                assert received == [bytes([i]) for i in range(5)]
                assert await client.read_gatt_char(DATA, use_cached=True) == b"\x04"

    run(main())


# Security


def test_unpaired_write_is_refused_and_pairing_lets_it_through() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            kit = await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C")
            async with BleakClient(STYLUS, backend=VirtualBleakClient, timeout=2.0) as client:
                with pytest.raises(BleakGATTProtocolError) as refused:
                    await client.write_gatt_char(CONTROL, b"\x01\x07", response=True)
                text = str(refused.value).lower()
                assert "insufficient" in text
                assert "encryption" in text or "authentication" in text
                assert refused.value.code in (0x05, 0x0F)
                assert kit.writes == []
                assert client.is_connected  # an ATT error does not drop the link

                await client.pair()
                assert kit.pairings == 1
                assert kit.connections[-1].is_encrypted
                await client.write_gatt_char(CONTROL, b"\x01\x07", response=True)
                assert kit.writes == [b"\x01\x07"]
                await client.pair()  # already bonded and encrypted: nothing to do
                assert kit.pairings == 1

    run(main())


def test_bond_is_reused_on_reconnect_and_forgotten_by_unpair() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            kit = await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C")
            async with BleakClient(
                STYLUS, pair=True, backend=VirtualBleakClient, timeout=2.0
            ) as client:
                await client.write_gatt_char(CONTROL, b"\x01", response=True)
            assert kit.pairings == 1

            async with BleakClient(STYLUS, backend=VirtualBleakClient, timeout=2.0) as client:
                assert kit.connections[-1].is_encrypted  # re-encrypted with the bond
                await client.write_gatt_char(CONTROL, b"\x02", response=True)
                assert kit.pairings == 1  # no second pairing
                await client.unpair()
                assert not client.is_connected

            assert kit.writes == [b"\x01", b"\x02"]
            async with BleakClient(STYLUS, backend=VirtualBleakClient, timeout=2.0) as client:
                assert not kit.connections[-1].is_encrypted
                with pytest.raises(BleakGATTProtocolError):
                    await client.write_gatt_char(CONTROL, b"\x03", response=True)

    run(main())


def test_kit_that_forgot_the_bond_leaves_the_link_plain_until_paired_again() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            kit = await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C")
            async with BleakClient(STYLUS, pair=True, backend=VirtualBleakClient) as client:
                await client.write_gatt_char(CONTROL, b"\x01", response=True)
            assert kit.device.keystore is not None
            await kit.device.keystore.delete_all()  # a 5 s press: the kit forgets its bonds

            async with BleakClient(STYLUS, backend=VirtualBleakClient, timeout=2.0) as client:
                assert client.is_connected  # the refused re-encryption does not fail connect
                assert not kit.connections[-1].is_encrypted
                with pytest.raises(BleakGATTProtocolError):
                    await client.write_gatt_char(CONTROL, b"\x02", response=True)
                await client.unpair()
            async with BleakClient(STYLUS, pair=True, backend=VirtualBleakClient) as client:
                await client.write_gatt_char(CONTROL, b"\x03", response=True)
            assert kit.writes == [b"\x01", b"\x03"]
            assert kit.pairings == 2

    run(main())


class RefusingDelegate(PairingDelegate):
    """A kit whose pairing window is closed."""

    async def accept(self) -> bool:
        return False


def test_refused_pairing_raises_and_says_to_open_the_pairing_window() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            kit = await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C")
            kit.device.pairing_config_factory = lambda _c: PairingConfig(
                sc=True,
                mitm=False,
                bonding=True,
                delegate=RefusingDelegate(
                    io_capability=PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT
                ),
            )
            async with BleakClient(STYLUS, backend=VirtualBleakClient, timeout=2.0) as client:
                with pytest.raises(VirtualLinkError, match="pairing window"):
                    await client.pair()
                assert kit.pairings == 0
                with pytest.raises(BleakGATTProtocolError):
                    await client.write_gatt_char(CONTROL, b"\x01", response=True)
            assert kit.writes == []

    run(main())


# Link loss


def test_cut_drops_both_ends_blocks_reconnect_then_restores() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            kit = await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C")
            dropped: list[BleakClient] = []
            received: list[bytes] = []
            client = BleakClient(STYLUS, dropped.append, backend=VirtualBleakClient, timeout=2.0)
            await client.connect()
            await client.start_notify(DATA, lambda _c, d: received.append(bytes(d)))

            cut = radio.cut(STYLUS, seconds=0.4)
            assert not radio.is_in_range(STYLUS)
            await eventually(lambda: dropped == [client])
            assert not client.is_connected
            await eventually(lambda: kit.disconnect_reasons == [0x08])  # connection timeout
            await kit.notify(b"lost")  # no subscriber any more, nothing to deliver

            with pytest.raises(TimeoutError):  # the kit cannot be heard while out of range
                await client.connect(timeout=0.15)
            with pytest.raises(BleakError):  # bleak itself: no services while disconnected
                await client.read_gatt_char(STATUS)

            await client.connect(timeout=2.0)  # waits for the kit to come back in range
            assert not cut.active
            assert radio.is_in_range(STYLUS)
            await client.start_notify(DATA, lambda _c, d: received.append(bytes(d)))
            await kit.notify(b"back")
            await eventually(lambda: received == [b"back"])
            await client.disconnect()
            assert dropped == [client, client]  # bleak calls it on every disconnection

    run(main())


def test_cut_during_a_request_fails_it_with_link_error() -> None:
    async def main() -> None:
        async with VirtualRadio(supervision_timeout=0.1) as radio:
            kit = await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C")
            async with BleakClient(STYLUS, backend=VirtualBleakClient, timeout=2.0) as client:
                kit.read_gate = asyncio.Event()  # the kit never answers the read
                read = asyncio.ensure_future(client.read_gatt_char(STATUS))
                await asyncio.sleep(0.02)
                with radio.cut(STYLUS):
                    assert client.is_connected  # not yet: the supervision timeout runs
                    with pytest.raises(VirtualLinkError, match="dropped"):
                        await read
                    assert not client.is_connected
                assert radio.is_in_range(STYLUS)

    run(main())


def test_a_cut_shorter_than_the_supervision_timeout_still_drops_the_link() -> None:
    async def main() -> None:
        async with VirtualRadio(supervision_timeout=0.15) as radio:
            await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C")
            async with BleakClient(STYLUS, backend=VirtualBleakClient, timeout=2.0) as client:
                radio.cut(STYLUS, seconds=0.02)
                await asyncio.sleep(0.08)
                assert radio.is_in_range(STYLUS)
                assert client.is_connected
                await eventually(lambda: not client.is_connected, seconds=1.0)
                await client.connect()  # a connection made after the cut stays up
                await asyncio.sleep(0.2)
                assert client.is_connected

    run(main())


def test_host_walking_off_drops_every_kit() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            kits = [
                await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C"),
                await add_kit(radio, GRIP, "finemotor grip 4D5E6F", kind=2),
            ]
            clients = [
                BleakClient(k, backend=VirtualBleakClient, timeout=2.0) for k in (STYLUS, GRIP)
            ]
            for client in clients:
                await client.connect()
            with radio.cut(radio.central_address):
                await eventually(lambda: not any(c.is_connected for c in clients))
                assert all(k.disconnect_reasons == [0x08] for k in kits)
            await clients[1].connect()
            assert clients[1].is_connected
            await clients[1].disconnect()

    run(main())


# Several kits, several radios


def test_two_peripherals_scan_and_connect_independently() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            stylus = await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C", kind=1)
            grip = await add_kit(radio, GRIP, "finemotor grip 4D5E6F", kind=2)
            found = await BleakScanner.discover(
                0.2, return_adv=True, service_uuids=[SERVICE], backend=VirtualBleakScanner
            )
            assert set(found) == {STYLUS, GRIP}
            assert found[GRIP][1].manufacturer_data[0xFFFF][0] == 2

            got: dict[str, list[bytes]] = {STYLUS: [], GRIP: []}
            a = BleakClient(found[STYLUS][0], backend=VirtualBleakClient, timeout=2.0)
            await a.connect()
            await a.start_notify(DATA, lambda _c, d: got[STYLUS].append(bytes(d)))
            assert stylus.connected
            assert not grip.connected  # connecting to one never touches the other

            b = BleakClient(found[GRIP][0], backend=VirtualBleakClient, timeout=2.0)
            await b.connect()
            await b.start_notify(DATA, lambda _c, d: got[GRIP].append(bytes(d)))
            await b.pair()
            await b.write_gatt_char(CONTROL, b"grip", response=True)
            assert grip.writes == [b"grip"]
            assert stylus.writes == []
            assert stylus.pairings == 0

            await stylus.notify(b"s")
            await grip.notify(b"g")
            await eventually(lambda: got == {STYLUS: [b"s"], GRIP: [b"g"]})

            await a.disconnect()
            await eventually(lambda: not stylus.connected)
            assert b.is_connected
            assert grip.connected
            await grip.notify(b"g2")
            await eventually(lambda: got[GRIP] == [b"g", b"g2"])
            await b.disconnect()

    run(main())


def test_concurrent_connects_are_serialized_on_the_adapter() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            for address, name in ((STYLUS, "finemotor stylus 1"), (GRIP, "finemotor grip 2")):
                await add_kit(radio, address, name)
            # Time each connection the adapter makes: a real controller creates one at a time.
            spans: list[tuple[float, float]] = []
            connect = radio.central.connect

            async def timed(*args: Any, **kwargs: Any) -> Any:
                start = asyncio.get_running_loop().time()
                try:
                    return await connect(*args, **kwargs)
                finally:
                    spans.append((start, asyncio.get_running_loop().time()))

            radio.central.connect = timed  # type: ignore[method-assign]
            clients = [
                BleakClient(a, backend=VirtualBleakClient, timeout=2.0) for a in (STYLUS, GRIP)
            ]
            await asyncio.gather(*(c.connect() for c in clients))
            assert all(c.is_connected for c in clients)
            assert len(spans) == 2
            (_, first_made), (second_began, _) = sorted(spans)
            assert first_made <= second_began  # one connection at a time
            await asyncio.gather(*(c.disconnect() for c in clients))

    run(main())


def test_removed_peripheral_drops_its_link() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            kit = await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C")
            dropped: list[BleakClient] = []
            async with BleakClient(
                STYLUS, dropped.append, backend=VirtualBleakClient, timeout=2.0
            ) as client:
                await radio.remove_peripheral(kit.device)
                await eventually(lambda: dropped == [client])
            assert STYLUS not in radio.peripherals
            with pytest.raises(BleakDeviceNotFoundError):
                await BleakClient(STYLUS, backend=VirtualBleakClient, timeout=0.1).connect()

    run(main())


def test_backends_bound_to_one_of_two_radios() -> None:
    async def main() -> None:
        async with VirtualRadio() as home, VirtualRadio() as school:
            await add_kit(home, STYLUS, "home stylus")
            await add_kit(school, STYLUS, "school stylus")
            with pytest.raises(TransportError, match="2 virtual radios"):
                VirtualRadio.current()
            found = await BleakScanner.discover(0.2, backend=school.scanner_backend)
            assert [d.name for d in found] == ["school stylus"]
            # A device found on a radio connects through that radio.
            async with BleakClient(found[0], backend=VirtualBleakClient) as client:
                assert client.name == "school stylus"
            async with BleakClient(STYLUS, backend=home.client_backend, timeout=2.0) as client:
                assert client.name == "home stylus"

    run(main())


def test_bare_controller_hosts_a_device_built_elsewhere() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            controller = radio.add_controller("remote kit")
            # What a host in another process would do over an HCI transport:
            device = Device(
                name="remote",
                address=Address(GRIP, Address.RANDOM_DEVICE_ADDRESS),
                host=Host(controller, AsyncPipeSink(controller)),
            )
            await device.power_on()
            kit = Kit(device, "finemotor grip remote", kind=2)
            await kit.advertise()
            async with BleakClient(GRIP, backend=VirtualBleakClient, timeout=2.0) as client:
                assert client.name == "finemotor grip remote"
                radio.cut(GRIP)
                await eventually(lambda: not client.is_connected)
            await radio.remove_controller(controller)
            assert controller not in radio.link.controllers

    run(main())


# Errors


def test_errors_say_what_to_do() -> None:
    async def main() -> None:
        with pytest.raises(TransportError, match="No virtual radio is running"):
            await BleakClient(STYLUS, backend=VirtualBleakClient).connect()
        async with VirtualRadio() as radio:
            with pytest.raises(BleakDeviceNotFoundError):
                await BleakClient(STYLUS, backend=VirtualBleakClient, timeout=0.1).connect()
            client = BleakClient(STYLUS, backend=VirtualBleakClient)
            with pytest.raises(VirtualLinkError, match="connect first") as not_connected:
                await client.pair()
            assert isinstance(not_connected.value, BleakError)
            assert isinstance(not_connected.value, FinemotorError)
            with pytest.raises(TransportError, match="six hex byte pairs"):
                radio.cut("nowhere")
            with pytest.raises(TransportError, match="No device"):
                radio.cut(GRIP)
            await radio.add_peripheral(STYLUS)
            with pytest.raises(TransportError, match="already on the virtual link"):
                await radio.add_peripheral(STYLUS)
        assert not radio.running
        with pytest.raises(TransportError, match="not running"):
            radio.cut(STYLUS)

    run(main())


def test_unadvertised_kit_times_out_and_the_adapter_recovers() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            kit = await add_kit(radio, STYLUS, "finemotor stylus 1A2B3C")
            device = await BleakScanner.find_device_by_address(
                STYLUS, timeout=1.0, backend=VirtualBleakScanner
            )
            assert device is not None
            await kit.device.stop_advertising()
            with pytest.raises(TimeoutError):
                await BleakClient(device, backend=VirtualBleakClient, timeout=0.1).connect()
            attempt = BleakClient(device, backend=VirtualBleakClient, timeout=5.0).connect()
            with pytest.raises(TimeoutError):  # cancelled from outside this time
                await asyncio.wait_for(attempt, 0.1)
            await kit.advertise()  # the cancelled attempts left the adapter usable
            async with BleakClient(device, backend=VirtualBleakClient, timeout=2.0) as client:
                assert client.is_connected

    run(main())
