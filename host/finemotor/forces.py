"""A kit's samples as forces: newtons on the kit's own clock, raw where uncalibrated.

:func:`to_forces` converts one :class:`~finemotor.samples.SampleBlock` with the device's
calibration; :func:`open_forces` opens a kit by name (as :func:`~finemotor.source.open_link`)
and yields a :class:`ForceStream` to iterate, or calls you back with each :class:`Forces`::

    async with open_forces("sim://stylus") as kit:
        async for f in kit.during(5.0):
            print(f.t[-1], f["tip"].values.max(), f["tip"].unit, f.barrel.values.max())

A calibrated channel is in newtons (unit ``"N"``); an uncalibrated one is in raw units, the
tared counts (``counts - zero``, unit ``"raw"``), never passed off as newtons. The stylus's
barrel grip is the sum of its pads (:data:`BARREL_PADS`), also given per pad.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from finemotor.calibration.model import DeviceCalibration
from finemotor.metrics.config import ForceUnit
from finemotor.samples import DeviceKind, SampleBlock

if TYPE_CHECKING:
    from finemotor.kitlink import KitLink
    from finemotor.replay import ReplayLink

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

BARREL_PADS: tuple[str, ...] = ("barrel_a", "barrel_b")
"""The stylus's barrel pads, whose sum is the barrel grip."""
BARREL = "barrel"
"""The name of the barrel grip (the pads' sum) among a stylus's forces."""


@dataclass(frozen=True)
class ChannelData:
    """One channel (or the barrel sum) of a block, converted.

    Attributes:
        values: newtons, or ``counts - zero`` for an uncalibrated channel.
        unit: ``"N"`` or ``"raw"``.
        saturated: True at full-scale counts or outside the calibrated range.
    """

    values: F64
    unit: ForceUnit
    saturated: Bools


def convert_channel(
    counts: npt.NDArray[np.int32],
    calibration: DeviceCalibration,
    index: int,
    count_limits: tuple[int, int] | None = None,
) -> ChannelData:
    """Convert one channel's counts with its calibration (raw units if uncalibrated).

    Args:
        counts: the channel's counts.
        calibration: the device's calibration record.
        index: the channel's position in the record.
        count_limits: the converter's (min, max) counts; readings there are saturated.

    Raises:
        CalibrationError: the record has no channel ``index``.
    """
    cal = calibration.channel(index)
    sat = np.zeros(counts.shape[0], dtype=np.bool_)
    if count_limits is not None:
        sat |= (counts <= count_limits[0]) | (counts >= count_limits[1])
    if cal.calibrated:
        conv = cal.convert(counts)
        return ChannelData(conv.newtons, "N", sat | conv.out_of_range)
    return ChannelData(cal.relative(counts), "raw", sat)


def barrel_pads(channels: Sequence[str]) -> list[int]:
    """The positions of the barrel pads among ``channels`` (empty for a grip dynamometer)."""
    return [i for i, name in enumerate(channels) if name in BARREL_PADS]


def barrel_sum(pads: Sequence[ChannelData]) -> ChannelData:
    """The barrel grip: the sum of the pads, in newtons only if every pad is calibrated.

    Args:
        pads: the converted pads (at least one).
    """
    unit: ForceUnit = "N" if all(p.unit == "N" for p in pads) else "raw"
    values = np.sum([p.values for p in pads], axis=0)
    saturated = np.any([p.saturated for p in pads], axis=0)
    return ChannelData(np.asarray(values, dtype=np.float64), unit, saturated)


@dataclass(frozen=True)
class Forces:
    """One block of a device's samples as forces, on the device's clock.

    ``forces["tip"]``, ``forces["force"]``, ``forces["barrel"]`` (the pads' sum) or any
    channel name gives that :class:`ChannelData`.

    Attributes:
        kind: ``"stylus"`` or ``"grip"``.
        seq: sample index of each sample (int64), increasing by 1.
        t: device time of each sample (s).
        channels: every channel by name, in the device's order (stylus ``tip``,
            ``barrel_a``, ``barrel_b``; grip ``force``).
        barrel: the stylus's barrel grip (sum of its pads); None without pads.
    """

    kind: DeviceKind
    seq: npt.NDArray[np.int64]
    t: F64
    channels: dict[str, ChannelData]
    barrel: ChannelData | None

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def __getitem__(self, name: str) -> ChannelData:
        if name == BARREL and self.barrel is not None:
            return self.barrel
        try:
            return self.channels[name]
        except KeyError:
            names = ", ".join(self.names)
            raise KeyError(f"{name!r}: this {self.kind} has {names}") from None

    @property
    def names(self) -> tuple[str, ...]:
        """Every name ``forces[name]`` takes: the channels, and ``barrel`` if there are pads."""
        return (*self.channels, *((BARREL,) if self.barrel is not None else ()))

    @property
    def units(self) -> dict[str, ForceUnit]:
        """Each name's unit: ``"N"``, or ``"raw"`` where uncalibrated."""
        return {name: self[name].unit for name in self.names}


def to_forces(
    block: SampleBlock,
    calibration: DeviceCalibration | None,
    count_limits: tuple[int, int] | None = None,
) -> Forces:
    """Convert a block with the device's calibration (None: every channel uncalibrated).

    Raises:
        CalibrationError: the calibration has fewer channels than the block.
    """
    cal = calibration or DeviceCalibration.uncalibrated(len(block.channels))
    channels = {
        name: convert_channel(block.counts[:, i], cal, i, count_limits)
        for i, name in enumerate(block.channels)
    }
    pads = [channels[block.channels[i]] for i in barrel_pads(block.channels)]
    return Forces(block.kind, block.seq, block.t, channels, barrel_sum(pads) if pads else None)


ForcesCallback = Callable[[Forces], None]
"""What :func:`open_forces` calls with each block's forces."""


class ForceStream:
    """A kit's forces as they arrive: iterate them, or have ``on_forces`` called with each.

    Made by :func:`open_forces`. Blocks are gap-free and on device time; iterating holds
    every block not yet taken, so iterate (or pass ``on_forces``), not both.

    Attributes:
        link: the open link (:class:`~finemotor.kitlink.KitLink`, or a
            :class:`~finemotor.replay.ReplayLink` for ``replay://``), for its info, status
            and counters.
    """

    def __init__(self, on_forces: ForcesCallback | None = None) -> None:
        self._on_forces = on_forces
        self._queue: asyncio.Queue[Forces] = asyncio.Queue()
        self._held: list[SampleBlock] = []
        self._calibration: DeviceCalibration | None = None
        self._link: KitLink | ReplayLink | None = None

    @property
    def link(self) -> KitLink | ReplayLink:
        """The open link (raises before :func:`open_forces` has opened it)."""
        if self._link is None:
            raise RuntimeError("the stream's kit is not open yet: use open_forces()")
        return self._link

    @property
    def calibration(self) -> DeviceCalibration:
        """The device's calibration (every channel uncalibrated if the kit's was unreadable)."""
        if self._calibration is None:
            info = self.link.info
            n = len(info.layout.channel_names) if info is not None else 0
            self._calibration = self.link.calibration or DeviceCalibration.uncalibrated(n)
        return self._calibration

    @property
    def kind(self) -> DeviceKind:
        """``"stylus"`` or ``"grip"``."""
        info = self.link.info
        assert info is not None  # an open link has its info
        return info.layout.kind

    @property
    def rate_hz(self) -> float:
        """The nominal sampling rate (Hz)."""
        info = self.link.info
        assert info is not None
        return float(info.rate_hz)

    @property
    def units(self) -> dict[str, ForceUnit]:
        """Each force's unit (``"N"``, or ``"raw"`` where uncalibrated), by name."""
        info = self.link.info
        assert info is not None
        names = info.layout.channel_names
        out: dict[str, ForceUnit] = {
            name: "N" if self.calibration.channel(i).calibrated else "raw"
            for i, name in enumerate(names)
        }
        pads = [out[names[i]] for i in barrel_pads(names)]
        if pads:
            out[BARREL] = "N" if all(u == "N" for u in pads) else "raw"
        return out

    def _attach(self, link: KitLink | ReplayLink) -> None:
        self._link = link
        held, self._held = self._held, []
        self._put(held)

    def _put(self, blocks: list[SampleBlock]) -> None:
        if self._link is None:  # streaming began before the link was handed over
            self._held.extend(blocks)
            return
        for block in blocks:
            forces = to_forces(block, self.calibration)
            if self._on_forces is not None:
                self._on_forces(forces)
            else:
                self._queue.put_nowait(forces)

    def _ended(self) -> bool:
        done: asyncio.Event | None = getattr(self._link, "done", None)  # a replay ends
        return done is not None and done.is_set() and self._queue.empty()

    def __aiter__(self) -> AsyncIterator[Forces]:
        return self.during(None)

    async def during(self, seconds: float | None) -> AsyncIterator[Forces]:
        """Yield each block's forces until ``seconds`` of device time have passed since the
        first (None: until the link ends; a live kit never does)."""
        first: float | None = None
        while not self._ended():
            try:
                forces = await asyncio.wait_for(self._queue.get(), 0.2)
            except TimeoutError:
                continue
            if len(forces) == 0:
                continue
            if first is None:
                first = float(forces.t[0])
            yield forces
            if seconds is not None and float(forces.t[-1]) - first >= seconds:
                return


@contextlib.asynccontextmanager
async def open_forces(
    name: str, on_forces: ForcesCallback | None = None, timeout: float = 10.0
) -> AsyncIterator[ForceStream]:
    """Open a kit by name and yield its :class:`ForceStream`, streaming; close it on exit.

    Args:
        name: ``ble://KIT_ID``, ``serial:///dev/ttyACM0``, ``sim://stylus``, ``sim://grip``
            or ``replay://SESSION/DEVICE`` (see :mod:`finemotor.source`).
        on_forces: called with each block's :class:`Forces` (then do not iterate).
        timeout: seconds for finding and connecting to the kit.

    Raises:
        FinemotorError: the name is not one of those forms.
        TransportError: the kit cannot be found or reached (the message says what to do).
        RecordingError: the recording to replay does not exist.
    """
    from finemotor.source import open_link  # noqa: PLC0415  (the radio stacks: only here)

    stream = ForceStream(on_forces)
    async with open_link(name, stream._put, timeout) as link:
        stream._attach(link)
        yield stream
