"""Simulated kits on the virtual radio: the real firmware under MicroPython, bleak on the host.

Each test starts real processes (the MicroPython unix port running ``firmware/sim/run_kit.py``
and the device's own ``main.py``) whose radio is a bumble peripheral served by the kit bridge,
and drives them with bleak's public API on the virtual backend. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiotest import eventually, run
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakGATTProtocolError
from bumble.device import Connection
from bumble.keys import PairingKeys

from finemotor.errors import TransportError
from finemotor.protocol import DecodedFrames, decode_frames
from finemotor.protocol import control as cp
from finemotor.protocol.status import decode_status
from finemotor.transport.virtual import VirtualRadio
from finemotor.transport.virtual.bond import decode_bond, encode_bond
from finemotor.transport.virtual.bridge import KitBridge
from finemotor.transport.virtual.simkit import SimKit, firmware_dir

SERVICE = "4d2f0001-b1a6-4c1e-9f3a-6e6b5f1a7c20"
DATA = "4d2f0002-b1a6-4c1e-9f3a-6e6b5f1a7c20"
CONTROL = "4d2f0003-b1a6-4c1e-9f3a-6e6b5f1a7c20"
STATUS = "4d2f0004-b1a6-4c1e-9f3a-6e6b5f1a7c20"
COMPANY = 0xFFFF
INSUFFICIENT = {0x05, 0x0F}  # ATT Insufficient Authentication / Encryption


class Host:
    """What one connected client received: data frames and control point responses."""

    def __init__(self, client: BleakClient) -> None:
        self.client = client
        self.frames: list[bytes] = []
        self.responses: asyncio.Queue[cp.Response] = asyncio.Queue()

    async def subscribe(self) -> None:
        await self.client.start_notify(DATA, self._on_data)
        await self.client.start_notify(CONTROL, self._on_control)

    def _on_data(self, _c: BleakGATTCharacteristic, data: bytearray) -> None:
        self.frames.append(bytes(data))

    def _on_control(self, _c: BleakGATTCharacteristic, data: bytearray) -> None:
        self.responses.put_nowait(cp.decode_response(data))

    async def command(self, request: bytes) -> cp.Response:
        await self.client.write_gatt_char(CONTROL, request, response=True)
        async with asyncio.timeout(2.0):
            response = await self.responses.get()
        assert response.token == request[1]
        assert response.ok, response
        return response

    def decoded(self) -> DecodedFrames:
        decoded, errors = decode_frames(self.frames)
        assert not errors, errors[:3]
        assert decoded is not None
        return decoded


async def wait_adv(
    radio: VirtualRadio, check: Callable[[AdvertisementData], bool]
) -> tuple[BLEDevice, AdvertisementData]:
    """The first kit and advertisement that pass ``check`` (within 3 s)."""
    found: list[AdvertisementData] = []

    def match(device: BLEDevice, adv: AdvertisementData) -> bool:
        if COMPANY in adv.manufacturer_data and check(adv):
            found.append(adv)
            return True
        return False

    device = await BleakScanner.find_device_by_filter(
        match, timeout=3.0, backend=radio.scanner_backend
    )
    assert device is not None, "no advertisement matched"
    return device, found[0]


def window_open(kit: SimKit) -> Callable[[AdvertisementData], bool]:
    """True for this kit's advertisements while its pairing window is open (only then does a
    kit say its id)."""

    def check(adv: AdvertisementData) -> bool:
        mfr = adv.manufacturer_data[COMPANY]
        return len(mfr) >= 6 and mfr[5] == 1 and kit.kit_id in (None, mfr[1:4].hex().upper())

    return check


async def paired(radio: VirtualRadio, kit: SimKit) -> BleakClient:
    """Opens the kit's pairing window and connects with pairing (to the address it advertises
    from: this computer knows its identity only once bonded)."""
    kit.press_button(150)
    device, _adv = await wait_adv(radio, window_open(kit))
    client = BleakClient(device, backend=radio.client_backend, pair=True, timeout=5.0)
    await client.connect()
    assert client.address == kit.address  # the identity, from the pairing
    return client


def check_live(decoded: DecodedFrames) -> tuple[int, int]:
    """Live frames follow each other with no gap: returns (first seq, samples)."""
    live = decoded.ftype == 0
    seq, count = decoded.seq[live], decoded.count[live]
    gaps = np.flatnonzero((seq[1:] - seq[:-1] - count[:-1]) % 65536)
    assert gaps.size == 0, f"gap after frame {gaps[0]}: {seq[gaps[0]]}+{count[gaps[0]]}"
    return int(seq[0]), int(count.sum())


def device_rate(decoded: DecodedFrames) -> float:
    """Samples per second of device time, from the first and last frames' ticks."""
    samples = (int(decoded.seq[-1]) - int(decoded.seq[0])) % 65536
    span_us = (int(decoded.tick[-1]) - int(decoded.tick[0])) % (1 << 30)
    return samples * 1e6 / span_us


def count_pairings(kit: SimKit) -> list[int]:
    """A counter of pairings the kit's radio runs from now on (present links included)."""
    pairings = [0]

    def on_connection(connection: Connection) -> None:
        def started() -> None:
            pairings[0] += 1

        connection.on(Connection.EVENT_PAIRING_START, started)

    kit.device.on("connection", on_connection)
    for connection in kit.device.connections.values():
        on_connection(connection)
    return pairings


# The stylus, from discovery to streaming


def test_stylus_discovery_security_pairing_streaming_time_sync_status() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio, SimKit(radio, "stylus", kit_id="1a2b3c") as kit:
            found = await BleakScanner.discover(
                1.0, return_adv=True, service_uuids=[SERVICE], backend=radio.scanner_backend
            )
            # Pairing window closed: a resolvable private address, and only the kind.
            assert list(found) == [kit.bridge.advertised_address] != [kit.address]
            device, adv = found[kit.bridge.advertised_address]
            assert adv.manufacturer_data[COMPANY] == b"\x01"  # stylus, no kit id
            assert adv.local_name is None

            # Unpaired: bumble refuses the protected characteristics itself.
            lost = asyncio.Event()
            client = BleakClient(
                device,
                backend=radio.client_backend,
                disconnected_callback=lambda _c: lost.set(),
                timeout=5.0,
            )
            async with client:
                assert client.mtu_size == 247
                with pytest.raises(BleakGATTProtocolError) as refused:
                    await client.write_gatt_char(CONTROL, cp.encode(cp.Op.START, 1), True)
                assert refused.value.code in INSUFFICIENT
                with pytest.raises(BleakGATTProtocolError) as unread:
                    await client.read_gatt_char(STATUS)
                assert unread.value.code in INSUFFICIENT
                assert await client.read_gatt_char("2A29") == b"finemotor"
                assert await client.read_gatt_char("2A24") == b"FM-STYLUS-1"

                # Outside the pairing window the kit refuses the bond and drops the link.
                pairings = count_pairings(kit)
                await client.pair()
                await asyncio.wait_for(lost.wait(), 3.0)
                assert pairings[0] == 1
                assert not client.is_connected
                await client.unpair()  # the host forgets the bond the kit refused

            # In the pairing window: pair, start, stream.
            client = await paired(radio, kit)
            async with client:
                host = Host(client)
                await host.subscribe()
                info = await host.command(cp.encode(cp.Op.INFO, 2))
                layout, rate, _ring, channels = struct.unpack("<BHHB", info.payload)
                assert (layout, rate, channels) == (1, 200, 3)
                t0 = time.monotonic()
                await host.command(cp.encode(cp.Op.START, 3))
                await asyncio.sleep(1.5)
                sync = await host.command(cp.encode(cp.Op.TIME_SYNC, 4))
                elapsed = time.monotonic() - t0
                status = decode_status(await client.read_gatt_char(STATUS))

                decoded = host.decoded()
                first, samples = check_live(decoded)
                assert first == 0  # from the first sample taken
                assert decoded.layout.layout_id == 1
                assert 190 < device_rate(decoded) < 210
                assert 0.75 * 200 * elapsed < samples < 1.1 * 200 * elapsed
                assert decoded.flags[0] & 2  # first frame after (re)start
                tick_now = struct.unpack("<I", sync.payload)[0]
                ahead_us = (tick_now - int(decoded.tick[-1])) % (1 << 30)
                assert ahead_us < 200_000  # the kit's clock, just past its latest frame

                assert status.state == "streaming"
                assert status.rate_hz == 200
                assert 0 < status.next_seq <= samples + 10  # refreshed every second
                assert not status.pairing_open  # the window closes once paired
                assert status.missed == 0 and status.overwritten == 0
                assert 3800 < status.battery_mv < 4000

                kit.set_battery_mv(3500)
                await asyncio.sleep(1.1)  # the kit reads its battery every second
                low = decode_status(await client.read_gatt_char(STATUS))
                assert abs(low.battery_mv - 3500) < 60
                assert low.battery_percent < status.battery_percent

    run(main())


def test_link_cut_then_bonded_reconnection_delivers_the_backlog() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio, SimKit(radio, "stylus", seed=2) as kit:
            client = await paired(radio, kit)
            async with client:
                before = Host(client)
                await before.subscribe()
                await before.command(cp.encode(cp.Op.START, 1))
                await asyncio.sleep(0.8)
                pairings = count_pairings(kit)
                cut = radio.cut(kit.address, 2.0)
                await eventually(lambda: not client.is_connected)
                await cut.wait_restored()

            async with BleakClient(kit.address, backend=radio.client_backend, timeout=5) as again:
                after = Host(again)
                await after.subscribe()
                await after.command(cp.encode(cp.Op.START, 3))  # data flows after START
                await asyncio.sleep(1.0)
                _, sent_before = check_live(before.decoded())
                decoded = after.decoded()
                first, samples = check_live(decoded)
                assert pairings[0] == 0  # bonded: encrypted again without pairing
                # Whatever the host missed (frames in flight at the cut) is in the kit's
                # ring: ask for it, as the host library does.
                hole = (first - sent_before) % 65536
                if hole:
                    reply = await after.command(cp.backfill(2, sent_before, hole))
                    assert struct.unpack("<HHH", reply.payload) == (sent_before, hole, 0)
                    await asyncio.sleep(0.2)
                    decoded = after.decoded()
                    backfill = decoded.ftype == 1
                    assert int(decoded.count[backfill].sum()) == hole
                # The backlog: 2 s out of range, sent at full frame size after reconnecting.
                assert samples > 2.0 * 200
                assert int(decoded.count.max()) == 39  # MTU 247: 39 stylus samples a frame

    run(main())


def test_stylus_and_grip_at_once() -> None:
    async def main() -> None:
        async with (
            VirtualRadio() as radio,
            SimKit(radio, "stylus", seed=3, kit_id="00A001") as stylus,
            SimKit(radio, "grip", seed=4, kit_id="00B002") as grip,
        ):
            found = await BleakScanner.discover(
                1.0, return_adv=True, service_uuids=[SERVICE], backend=radio.scanner_backend
            )
            kinds = {a: adv.manufacturer_data[COMPANY] for a, (_d, adv) in found.items()}
            assert kinds == {  # the kinds, from addresses that are not the kits' identities
                stylus.bridge.advertised_address: b"\x01",
                grip.bridge.advertised_address: b"\x02",
            }
            assert not {stylus.address, grip.address} & set(kinds)
            hosts: list[tuple[Host, int]] = []
            for kit in (stylus, grip):
                client = await paired(radio, kit)
                host = Host(client)
                await host.subscribe()
                info = await host.command(cp.encode(cp.Op.INFO, 1))
                hosts.append((host, struct.unpack_from("<BH", info.payload)[1]))
            try:
                for host, _ in hosts:
                    await host.command(cp.encode(cp.Op.START, 2))
                await asyncio.sleep(1.5)
            finally:
                for host, _ in hosts:
                    await host.client.disconnect()
            for (host, rate), layout in zip(hosts, (1, 2), strict=True):
                decoded = host.decoded()
                assert decoded.layout.layout_id == layout
                _, samples = check_live(decoded)
                assert abs(device_rate(decoded) - rate) < 0.03 * rate
                assert samples > 0.75 * rate * 1.2

    run(main())


# The bridge and the bluetooth module on their own

SEMANTICS = """
import asyncio
import bluetooth
from micropython import const

_F_READ = const(0x0002)
_F_WRITE = const(0x0008)
_F_NOTIFY = const(0x0010)
bluetooth.connect_bridge("127.0.0.1", {port})
ble = bluetooth.BLE()
ble.active(True)
ble.config(mtu=100, gap_name="semantics")
U = bluetooth.UUID
svc = (U("{svc}"), (
    (U("{a}"), _F_READ | _F_WRITE),
    (U("{b}"), _F_WRITE, ((U(0x2901), _F_READ),)),
    (U("{c}"), _F_NOTIFY),
))
((ha, hb, hd, hc),) = ble.gatts_register_services((svc,))
ble.gatts_write(hd, "a user description")
ble.gatts_write(hb, bytes(60))  # a local write grows the value's buffer

def irq(event, data):
    if event == 3:  # _IRQ_GATTS_WRITE: echo what the stack kept
        conn, handle = data
        ble.gatts_notify(conn, hc, bytes((handle,)) + ble.gatts_read(handle))

ble.irq(irq)
ble.gap_advertise(20000, b"\\x02\\x01\\x06", resp_data=b"\\x0a\\x09semantics")

async def main():
    print("handles", ha, hb, hd, hc)
    while True:
        await asyncio.sleep_ms(1000)

asyncio.run(main())
"""


def test_bluetooth_module_semantics() -> None:
    """Handles in definition order, 20-byte default buffers, local writes growing them,
    notifications without subscription, read permissions, the MTU the firmware configured."""
    base = "0000{}-b1a6-4c1e-9f3a-6e6b5f1a7c20"
    svc, a, b, c = (base.format(x) for x in ("aa00", "aa01", "aa02", "aa03"))

    async def main() -> None:
        async with VirtualRadio() as radio:
            bridge = KitBridge(radio)
            port = await bridge.start()
            firmware = firmware_dir()
            proc = await asyncio.create_subprocess_exec(
                _micropython(),
                "-c",
                SEMANTICS.format(port=port, svc=svc, a=a, b=b, c=c),
                env={**os.environ, "MICROPYPATH": f"{firmware / 'sim'}:.frozen"},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            try:
                await bridge.wait_advertising(10.0)
                echoes: asyncio.Queue[bytes] = asyncio.Queue()

                def on_echo(_c: BleakGATTCharacteristic, data: bytearray) -> None:
                    echoes.put_nowait(bytes(data))

                async with BleakClient(bridge.address, backend=radio.client_backend) as client:
                    assert client.mtu_size == 100  # min(central's 247, config(mtu=100))
                    service = client.services.get_service(svc)
                    assert service is not None
                    chars = {ch.uuid: ch for ch in service.characteristics}
                    ha, hb, hc = (chars[u].handle for u in (a, b, c))
                    assert ha < hb < hc
                    (hd,) = (d.handle for d in chars[b].descriptors if "2901" in d.uuid)
                    assert hb < hd < hc
                    desc = await client.read_gatt_descriptor(hd)
                    assert desc == b"a user description"

                    # Not subscribed: MicroPython's gatts_notify sends anyway; bleak only
                    # delivers what it subscribed to, so subscribe to see the echoes.
                    await client.start_notify(c, on_echo)
                    await client.write_gatt_char(a, bytes(range(30)), response=True)
                    echo = await asyncio.wait_for(echoes.get(), 2.0)
                    assert echo == bytes((ha,)) + bytes(range(20))  # cut to 20 bytes
                    assert await client.read_gatt_char(a) == bytes(range(20))
                    await client.write_gatt_char(b, bytes(range(50)), response=True)
                    echo = await asyncio.wait_for(echoes.get(), 2.0)
                    assert echo == bytes((hb,)) + bytes(range(50))  # buffer grown to 60

                    with pytest.raises(BleakGATTProtocolError) as unread:
                        await client.read_gatt_char(b)
                    assert unread.value.code == 0x02  # Read Not Permitted
                    with pytest.raises(BleakGATTProtocolError) as unwritten:
                        await client.write_gatt_char(c, b"x", response=True)
                    assert unwritten.value.code == 0x03  # Write Not Permitted
            finally:
                if proc.returncode is None:
                    proc.kill()
                out = (await proc.communicate())[0].decode()
                await bridge.close()
            assert "Traceback" not in out, out

    run(main())


def _micropython() -> str:
    return shutil.which("micropython") or str(Path(sys.executable).with_name("micropython"))


def test_bond_record_round_trip() -> None:
    keys = PairingKeys(
        ltk=PairingKeys.Key(bytes(range(16)), authenticated=False),
        irk=PairingKeys.Key(bytes(range(16, 32)), authenticated=True),
        ltk_central=PairingKeys.Key(bytes(16), False, ediv=0x1234, rand=bytes(range(8))),
    )
    blob = encode_bond("C0:00:00:00:00:01", keys)
    assert blob[:7] == bytes.fromhex("01 01 00 00 00 00 c0")  # NimBLE's ble_addr_t
    assert len(blob) < 255  # the firmware's bond file keeps one-byte lengths
    name, back = decode_bond(blob)
    assert name == "C0:00:00:00:00:01"
    assert (back.ltk, back.irk, back.ltk_central) == (keys.ltk, keys.irk, keys.ltk_central)
    assert back.csrk is None
    with pytest.raises(ValueError, match="short"):
        decode_bond(blob[:20])


def test_a_firmware_that_dies_reports_its_traceback() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            kit = SimKit(radio, "grip", adc_chip="no-such-chip", start_timeout=10)
            with pytest.raises(TransportError, match="unknown ADC chip"):
                await kit.start()
            assert not radio.peripherals
            with pytest.raises(TransportError, match="not running"):
                kit.press_button()

    run(main())


def test_kit_arguments_are_checked() -> None:
    radio: Any = None
    with pytest.raises(TransportError, match="kind"):
        SimKit(radio, "pen")
    with pytest.raises(TransportError, match="6 hex digits"):
        SimKit(radio, "stylus", kit_id="12345G")
