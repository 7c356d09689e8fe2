"""Keeping one kit streaming: start, assemble, sync clocks, fill gaps, reconnect.

A :class:`KitLink` owns a :class:`~finemotor.transport.contract.KitTransport` (a
:class:`~finemotor.transport.ble.BleKit`, or for a kit on its USB cable a
:class:`~finemotor.transport.serial.SerialKit`; :func:`kit_transport` picks one for a target)
and a :class:`~finemotor.stream.DeviceStream`. Every block it hands on is gap-free and on device
time. When the link drops it reconnects with back-off (the kit keeps sampling into its 32 s
ring meanwhile), restarts the stream, and asks for whatever went missing; what the kit no
longer holds is counted as lost, never hidden.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bleak.backends.device import BLEDevice

from finemotor.aio import wait_event
from finemotor.calibration.model import DeviceCalibration
from finemotor.clocksync import ClockSync
from finemotor.errors import FinemotorError, TransportError
from finemotor.protocol.constants import SEQ_MODULUS
from finemotor.protocol.status import Status
from finemotor.samples import SampleBlock
from finemotor.stream import DeviceStream, KitLinkCounters
from finemotor.transport.ble import BleKit
from finemotor.transport.commands import KitInfo
from finemotor.transport.contract import KitTransport
from finemotor.transport.serial import SerialKit, is_serial_target

__all__ = ["KitLink", "KitLinkCounters", "LinkState", "kit_transport"]

logger = logging.getLogger(__name__)

_TICK_EVERY_S = 0.1
_SYNC_EVERY_S = 5.0
_RETRY_HOLE_S = 2.0
_HOLE_TRIES = 3
_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)


def kit_transport(
    target: BLEDevice | str,
    on_frame: Callable[[bytes], None],
    on_disconnect: Callable[[], None] | None = None,
    backend: Any = None,
    timeout: float = 10.0,
) -> KitTransport:
    """The transport to a kit's target: a :class:`~finemotor.transport.serial.SerialKit` for a
    serial port or ``serial://`` URL (see
    :func:`~finemotor.transport.serial.is_serial_target`), a
    :class:`~finemotor.transport.ble.BleKit` for anything else (a ``BLEDevice`` from a scan,
    or an address).

    Args:
        target: the kit.
        on_frame: called with each data frame (raw bytes), in arrival order.
        on_disconnect: called when the link drops.
        backend: bleak client backend (None: the operating system's radio); Bluetooth only.
        timeout: seconds for connecting and for each command.
    """
    if is_serial_target(target):
        return SerialKit(target, on_frame, on_disconnect=on_disconnect, timeout=timeout)
    return BleKit(target, on_frame, on_disconnect=on_disconnect, backend=backend, timeout=timeout)


@dataclass
class LinkState:
    """What the person watching should know about the link."""

    connected: bool = False
    reconnects: int = 0
    since_s: float = 0.0
    last_error: str = ""


class KitLink:
    """One kit, kept streaming.

    Args:
        kit: the transport to the kit, not yet connected (the link becomes its owner and sets
            its ``on_frame`` and ``on_disconnect``); or the kit's target, for which
            :func:`kit_transport` makes one: a ``BLEDevice`` from a scan or an address, or a
            serial port or URL (``serial:///dev/ttyACM0``) for a kit on its USB cable.
        on_blocks: called with each list of new gap-free blocks.
        backend: bleak client backend (None: the operating system's radio), for a Bluetooth
            target.
        timeout: seconds for connecting and for each command, for a target.
    """

    def __init__(
        self,
        kit: KitTransport | BLEDevice | str,
        on_blocks: Callable[[list[SampleBlock]], None] | None = None,
        backend: Any = None,
        timeout: float = 10.0,
    ) -> None:
        if isinstance(kit, BLEDevice | str):
            kit = kit_transport(kit, self._on_frame, self._on_disconnect, backend, timeout)
        else:
            kit.on_frame = self._on_frame
            kit.on_disconnect = self._on_disconnect
        self.kit: KitTransport = kit
        """The transport to the kit."""
        self._on_blocks = on_blocks
        self.stream: DeviceStream | None = None
        self.info: KitInfo | None = None
        self.calibration: DeviceCalibration | None = None
        self.clock = ClockSync()
        self.state = LinkState()
        self._first_seq: int | None = None
        self._last_seq = -1
        self._holes: dict[int, tuple[float, int]] = {}  # wire seq -> (asked at, tries)
        self._task: asyncio.Task[None] | None = None
        self._lost_link = asyncio.Event()
        self._closing = False

    async def open(self) -> KitInfo:
        """Connect, read the calibration, start streaming, and keep it going."""
        info = await self.kit.connect()
        self.info = info
        self.stream = DeviceStream(info.layout, info.rate_hz)
        try:
            self.calibration = await self.kit.read_calibration()
        except FinemotorError as exc:
            logger.warning("kit %s: calibration unreadable (%s)", info.address, exc)
        await self.kit.start()
        self.state = LinkState(connected=True, since_s=time.monotonic())
        self._task = asyncio.create_task(self._keep())
        return info

    async def close(self, stop: bool = True) -> None:
        """Stop the kit streaming (unless ``stop`` is false) and disconnect."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if stop and self.kit.connected:
            with contextlib.suppress(FinemotorError):
                await self.kit.stop()
        await self.kit.disconnect()

    @property
    def connected(self) -> bool:
        """The link is up (False while reconnecting)."""
        return self.state.connected

    @property
    def status(self) -> Status | None:
        """The kit's latest status (battery, sensor health, counters), if one arrived."""
        return self.kit.status

    def to_host(self, device_t: float) -> float | None:
        """Device seconds to host ``time.monotonic()`` seconds; None before the first sync."""
        if not self.clock.ready:
            return None
        return float(self.clock.to_host(device_t * 1e6))

    def settled(self) -> bool:
        """Nothing is waiting to be backfilled."""
        return self.stream is None or not self.stream.holes()

    @property
    def expected(self) -> int:
        """Samples the kit took since streaming began, from its sequence numbers."""
        return 0 if self._first_seq is None else self._last_seq + 1 - self._first_seq

    def counters(self) -> KitLinkCounters:
        """Received, expected, gaps, backfilled, lost, malformed, duplicates, reconnects."""
        c = self.stream.counters if self.stream is not None else None
        return KitLinkCounters(
            received=c.delivered if c else 0,
            expected=self.expected,
            gaps=c.gaps if c else 0,
            backfilled=c.backfilled if c else 0,
            lost=c.lost if c else 0,
            malformed=c.malformed if c else 0,
            duplicates=c.duplicates if c else 0,
            reconnects=self.state.reconnects,
        )

    # --- data path --------------------------------------------------------------------
    def _on_frame(self, data: bytes) -> None:
        stream = self.stream
        if stream is None:
            return
        blocks = stream.feed(data)
        top = stream.highest_seq
        if top is not None:
            if self._first_seq is None:
                self._first_seq = int(blocks[0].seq[0]) if blocks else top
            self._last_seq = max(self._last_seq, top)
        if blocks and self._on_blocks is not None:
            self._on_blocks(blocks)

    def _on_disconnect(self) -> None:
        if not self._closing:
            self.state.connected = False
            self._lost_link.set()

    # --- upkeep -----------------------------------------------------------------------
    async def _keep(self) -> None:
        last_sync = time.monotonic()
        while True:
            if self._lost_link.is_set():
                await self._reconnect()
                last_sync = time.monotonic()
            try:
                await self._fill_holes()
                if not self.clock.ready or time.monotonic() - last_sync > _SYNC_EVERY_S:
                    await self._sync()
                    last_sync = time.monotonic()
            except TransportError as exc:
                self.state.last_error = str(exc)
            await wait_event(self._lost_link, _TICK_EVERY_S)

    async def _reconnect(self) -> None:
        attempt = 0
        while not self._closing:
            delay = _BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)]
            await asyncio.sleep(delay)
            attempt += 1
            try:
                await self.kit.connect(attempts=1)
                await self.kit.start()
            except FinemotorError as exc:
                self.state.last_error = str(exc)
                logger.info("kit %s: reconnecting (%s)", self.kit.address, exc)
                continue
            self._lost_link.clear()
            self.state.connected = True
            self.state.reconnects += 1
            self.state.since_s = time.monotonic()
            self._holes.clear()  # ask again for everything still missing
            return

    async def _fill_holes(self) -> None:
        stream = self.stream
        if stream is None or not self.kit.connected:
            return
        now = time.monotonic()
        for seq, _count in stream.missing():
            self._holes.setdefault(seq, (0.0, 0))
        for seq, (asked, tries) in list(self._holes.items()):
            if now - asked < _RETRY_HOLE_S:
                continue
            hole = next((h for h in stream.holes() if h[0] % SEQ_MODULUS == seq), None)
            if hole is None:
                del self._holes[seq]
                continue
            if tries >= _HOLE_TRIES:
                self._deliver(stream.declare_lost(seq, hole[1]))
                del self._holes[seq]
                continue
            self._holes[seq] = (now, tries + 1)
            _first, _queued, gone = await self.kit.backfill(seq, hole[1])
            if gone:
                self._deliver(stream.declare_lost(seq, gone))

    def _deliver(self, blocks: list[SampleBlock]) -> None:
        if blocks and self._on_blocks is not None:
            self._on_blocks(blocks)

    async def _sync(self) -> None:
        # On the stream's time axis, so needs a frame first.
        if self.stream is None or self.stream.next_seq is None:
            return
        s = await self.kit.time_sync()
        tick = self.stream.device_us(s.tick)
        if tick is not None:
            self.clock.add(s.sent_s, float(tick), s.received_s)
