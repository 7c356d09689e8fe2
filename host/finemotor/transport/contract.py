"""What a transport to a kit offers: the :class:`KitTransport` protocol.

A :class:`~finemotor.kitlink.KitLink` keeps a kit streaming through whatever reaches it:
:class:`~finemotor.transport.ble.BleKit` (Bluetooth LE, the real radio or the virtual one),
:class:`~finemotor.transport.serial.SerialKit` (the kit's USB cable), or any class of one's
own with the same surface. Nothing here imports a radio or serial library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from finemotor.calibration.model import DeviceCalibration
from finemotor.protocol.status import Status
from finemotor.transport.commands import KitInfo, TimeSyncSample

__all__ = ["KitTransport"]


class KitTransport(Protocol):
    """One connection to one kit: connect, the kit's commands, and its frames as they arrive.

    The transport calls :attr:`on_frame` with each data frame (raw bytes, in arrival order)
    and :attr:`on_disconnect` when the link drops, asked for or not, both in the asyncio loop.
    Whoever owns the transport (a :class:`~finemotor.kitlink.KitLink`) sets them. Reconnecting
    after a drop is the owner's job: it calls :meth:`connect` again.

    Commands raise :class:`~finemotor.errors.KitCommandError` when the kit refuses one (with
    the reason and what to do), and :class:`~finemotor.errors.TransportError` when there is no
    link or no answer in time.
    """

    on_frame: Callable[[bytes], None]
    """Called with each data frame, raw bytes, in arrival order."""
    on_disconnect: Callable[[], None] | None
    """Called when the link drops (None: nobody is told)."""

    @property
    def address(self) -> str:
        """What the kit was reached by: its Bluetooth address, or its serial port or URL."""
        ...

    @property
    def connected(self) -> bool:
        """True while the link is up."""
        ...

    @property
    def status(self) -> Status | None:
        """The kit's latest status (battery, sensor health, counters), if one arrived."""
        ...

    @property
    def mtu(self) -> int:
        """The largest packet the link carries, as an ATT MTU (payload + 3)."""
        ...

    async def connect(self, attempts: int = 3) -> KitInfo:
        """Connect (trying up to ``attempts`` times) and read what the kit is.

        Raises:
            TransportError: the kit could not be reached, with what to do.
        """
        ...

    async def disconnect(self) -> None:
        """Close the link (the kit goes on sampling until told to stop)."""
        ...

    async def start(self) -> tuple[int, int]:
        """Start streaming; returns (next wire seq, device tick now)."""
        ...

    async def stop(self) -> None:
        """Stop streaming (at the end of the current 16-sample block)."""
        ...

    async def time_sync(self) -> TimeSyncSample:
        """One TIME_SYNC exchange."""
        ...

    async def backfill(self, seq: int, count: int) -> tuple[int, int, int]:
        """Ask for samples again; returns (first seq, count queued, count gone for good)."""
        ...

    async def read_calibration(self) -> DeviceCalibration:
        """Read the calibration record stored on the kit."""
        ...

    async def write_calibration(self, cal: DeviceCalibration) -> None:
        """Store a calibration record on the kit (committed atomically)."""
        ...
