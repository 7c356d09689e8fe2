"""KitLink over the KitTransport contract: a transport of one's own, the transport a target
names, and the counters it keeps."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

import pytest
from aiotest import eventually, run

from finemotor.calibration.model import DeviceCalibration
from finemotor.kitlink import KitLink, KitLinkCounters, kit_transport
from finemotor.protocol import LAYOUTS
from finemotor.protocol.status import Status
from finemotor.samples import SampleBlock
from finemotor.transport.ble import BleKit
from finemotor.transport.commands import KitInfo, TimeSyncSample
from finemotor.transport.contract import KitTransport
from finemotor.transport.serial import SerialKit

GRIP = LAYOUTS[2]
PERIOD_US = 3125  # 320 Hz


def frame(seq: int, n: int) -> bytes:
    """A live grip frame (docs/protocol.md) whose samples' counts equal their index."""
    tick = (1_000_000 + seq * PERIOD_US) % (1 << 30)
    head = struct.pack("<BBHIBB", 0x10, 2, seq % 65536, tick, n, 0)
    return head + b"".join((seq + k).to_bytes(3, "little") for k in range(n))


class ScriptedKit:
    """A transport with no radio and no cable: a grip kit that does what it is told."""

    def __init__(self) -> None:
        self.on_frame: Callable[[bytes], None] = lambda _f: None
        self.on_disconnect: Callable[[], None] | None = None
        self.address = "scripted"
        self.connected = False
        self.status: Status | None = None
        self.mtu = 247
        self.calls: list[str] = []

    async def connect(self, attempts: int = 3) -> KitInfo:
        self.calls.append("connect")
        self.connected = True
        return KitInfo(self.address, "FM-GRIP-1", "0001", "1.0.0", GRIP, 320, 10240)

    async def disconnect(self) -> None:
        self.calls.append("disconnect")
        self.connected = False

    async def start(self) -> tuple[int, int]:
        self.calls.append("start")
        return 0, 0

    async def stop(self) -> None:
        self.calls.append("stop")

    async def time_sync(self) -> TimeSyncSample:
        now = time.monotonic()
        return TimeSyncSample(now, 1_000_000, now)

    async def backfill(self, seq: int, count: int) -> tuple[int, int, int]:
        self.calls.append("backfill")
        return seq, 0, count

    async def read_calibration(self) -> DeviceCalibration:
        self.calls.append("read_calibration")
        return DeviceCalibration.uncalibrated(1)

    async def write_calibration(self, cal: DeviceCalibration) -> None:
        self.calls.append("write_calibration")

    def drop(self) -> None:
        """The link drops, not asked for."""
        self.connected = False
        if self.on_disconnect is not None:
            self.on_disconnect()


def test_a_link_keeps_a_transport_of_ones_own_streaming() -> None:
    kit = ScriptedKit()
    got: list[SampleBlock] = []
    transport: KitTransport = kit  # the contract (mypy checks BleKit and SerialKit against it)
    link = KitLink(transport, got.extend)
    assert link.kit is kit

    async def main() -> KitLinkCounters:
        info = await link.open()
        assert info.layout is GRIP and link.calibration is not None
        assert kit.calls == ["connect", "read_calibration", "start"]
        kit.on_frame(frame(0, 6))
        kit.on_frame(frame(6, 6))
        assert [int(s) for b in got for s in b.seq] == list(range(12))
        kit.drop()
        assert not link.connected
        await eventually(lambda: link.connected, 5.0)  # connected and started again
        await link.close()
        return link.counters()

    counters = run(main(), 20.0)
    assert kit.calls[-4:] == ["connect", "start", "stop", "disconnect"]
    assert counters == KitLinkCounters(received=12, expected=12, reconnects=1)


def test_a_link_that_never_opened_counts_nothing() -> None:
    assert KitLink(ScriptedKit()).counters() == KitLinkCounters()


def test_counters_as_json_keep_their_names_and_order() -> None:
    c = KitLinkCounters(received=5, expected=7, gaps=1, lost=2, reconnects=1)
    assert c.as_dict() == {
        "received": 5,
        "expected": 7,
        "gaps": 1,
        "backfilled": 0,
        "lost": 2,
        "malformed": 0,
        "duplicates": 0,
        "reconnects": 1,
    }
    assert list(c.as_dict()) == [
        "received",
        "expected",
        "gaps",
        "backfilled",
        "lost",
        "malformed",
        "duplicates",
        "reconnects",
    ]
    assert c.lost == 2


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        ("serial:///dev/ttyACM0", SerialKit),
        ("/dev/ttyUSB0", SerialKit),
        ("COM3", SerialKit),
        ("F0:00:00:00:00:02", BleKit),
    ],
)
def test_a_target_gets_the_transport_it_names(target: str, kind: type) -> None:
    frames: Callable[[bytes], None] = lambda _f: None  # noqa: E731
    dropped: Callable[[], None] = lambda: None  # noqa: E731
    kit = kit_transport(target, frames, dropped, timeout=1.0)
    assert isinstance(kit, kind) and kit.address == target
    assert kit.on_frame is frames and kit.on_disconnect is dropped
    link = KitLink(target, timeout=1.0)
    assert isinstance(link.kit, kind) and not link.kit.connected
    assert link.kit.on_frame == link._on_frame and link.kit.on_disconnect == link._on_disconnect
