"""One device's sample stream: frames in, gap-free, time-stamped sample blocks out.

The stream de-duplicates by sequence number, holds samples back behind a gap until the gap
is filled by a backfill or declared lost, and counts everything: frames, malformed frames,
gaps, samples backfilled, samples lost. Time comes from the device's ticks, never from when a
notification arrived: each frame's first sample carries its tick, and the samples in between
are spaced by the device's measured sample period.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import numpy.typing as npt

from finemotor.errors import ProtocolError
from finemotor.protocol import FRAME_BACKFILL, SEQ_MODULUS, Layout, decode_frames
from finemotor.protocol.frames import DecodedFrames
from finemotor.protocol.unwrap import Unwrapper
from finemotor.samples import SampleBlock


@dataclass
class StreamCounters:
    """What happened to a device's samples.

    Attributes:
        frames: frames decoded.
        malformed: notifications dropped as malformed (see ``last_error``).
        gaps: holes in the sequence seen (each asked for again).
        backfilled: samples that arrived in backfill frames and filled a hole.
        duplicates: samples received twice (dropped).
        lost: samples the device could not resend (beyond its buffer): gone for good.
        delivered: samples handed on, in order.
    """

    frames: int = 0
    malformed: int = 0
    gaps: int = 0
    backfilled: int = 0
    duplicates: int = 0
    lost: int = 0
    delivered: int = 0
    last_error: str = field(default="", repr=False)

    def as_dict(self) -> dict[str, int | str]:
        """The counters as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class KitLinkCounters:
    """What a link to a kit counted since it opened (a
    :class:`~finemotor.kitlink.KitLink`'s or a replay's ``counters()``), in samples unless
    said otherwise.

    Attributes:
        received: samples handed on, in order.
        expected: samples the kit took since streaming began (from its sequence numbers).
        gaps: holes in the sequence seen (each asked for again).
        backfilled: samples that filled a hole when the kit sent them again.
        lost: samples the kit could not send again: gone for good.
        malformed: notifications dropped as malformed.
        duplicates: samples received twice (dropped).
        reconnects: times the link dropped and was connected again.
    """

    received: int = 0
    expected: int = 0
    gaps: int = 0
    backfilled: int = 0
    lost: int = 0
    malformed: int = 0
    duplicates: int = 0
    reconnects: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name, in the order above (JSON-ready)."""
        return asdict(self)


@dataclass
class _Pending:
    seq: int
    t0_us: float
    counts: npt.NDArray[np.int32]
    backfill: bool = False


class DeviceStream:
    """Turns one device's notifications into ordered, gap-free sample blocks.

    Args:
        layout: the device's channel layout.
        rate_hz: its nominal sampling rate (refined from the ticks as frames arrive).
    """

    def __init__(self, layout: Layout, rate_hz: float) -> None:
        self.layout = layout
        self.rate_hz = rate_hz
        self.counters = StreamCounters()
        self._unwrap = Unwrapper(1e6 / rate_hz)
        self._period_us = 1e6 / rate_hz
        self._anchor: tuple[int, float] | None = None  # (seq, tick) of an early frame
        self._next: int | None = None  # next sample index to deliver
        self._held: dict[int, _Pending] = {}
        self._requested: set[int] = set()
        self._last_t_us = -np.inf
        self._top = 0  # one past the highest sample index received

    @property
    def period_us(self) -> float:
        """The device's sample period as measured from its ticks, in microseconds."""
        return self._period_us

    @property
    def next_seq(self) -> int | None:
        """Index of the next sample to be delivered (None before the first frame)."""
        return self._next

    def feed(self, notification: bytes | bytearray | memoryview) -> list[SampleBlock]:
        """Take one notification; return the blocks that became deliverable (maybe none)."""
        decoded, errors = decode_frames([notification], self.layout)
        for err in errors:
            self._malformed(err)
        if decoded is None:
            return []
        return self._take(decoded)

    def feed_many(self, notifications: list[bytes]) -> list[SampleBlock]:
        """Take several notifications at once (decoded together: the fast path)."""
        decoded, errors = decode_frames(notifications, self.layout)
        for err in errors:
            self._malformed(err)
        return [] if decoded is None else self._take(decoded)

    @property
    def highest_seq(self) -> int | None:
        """Highest sample index received so far (delivered or held behind a hole)."""
        return None if self._next is None else self._top - 1

    def holes(self) -> list[tuple[int, int]]:
        """Holes behind which samples wait, as (first index, count)."""
        return self._holes()

    def device_us(self, wire_tick: int) -> int | None:
        """A tick from another message (TIME_SYNC) on this stream's unwrapped time axis."""
        return self._unwrap.tick_near(wire_tick)

    def missing(self) -> list[tuple[int, int]]:
        """Holes not yet asked for, as (wire seq, count) for BACKFILL; marks them asked."""
        out = []
        for start, count in self._holes():
            if start not in self._requested:
                self._requested.add(start)
                out.append((start % SEQ_MODULUS, count))
        return out

    def declare_lost(
        self, wire_seq: int | None = None, count: int | None = None
    ) -> list[SampleBlock]:
        """Give up on a hole (the device answered that it is gone, or it never came).

        With no arguments, the first hole is given up. Returns blocks now deliverable.
        """
        holes = self._holes()
        if not holes:
            return []
        start, size = holes[0]
        if wire_seq is not None:
            for h_start, h_size in holes:
                if h_start % SEQ_MODULUS == wire_seq % SEQ_MODULUS:
                    start, size = h_start, h_size
                    break
        n = size if count is None else min(count, size)
        if start != self._next:
            return []  # only the hole at the head can be skipped: the rest waits its turn
        self.counters.lost += n
        self._next = start + n
        self._requested.discard(start)
        return self._deliver()

    def _malformed(self, err: ProtocolError) -> None:
        self.counters.malformed += 1
        self.counters.last_error = str(err)

    def _take(self, d: DecodedFrames) -> list[SampleBlock]:
        bounds = d.frame_bounds()
        for f in range(d.n_frames):
            seq, tick = self._unwrap.unwrap(int(d.seq[f]), int(d.tick[f]))
            counts = d.counts[bounds[f] : bounds[f + 1]]
            self.counters.frames += 1
            self._learn_period(seq, tick)
            if self._next is None:
                self._next = self._top = seq
            self._hold(seq, float(tick), counts, backfill=int(d.ftype[f]) == FRAME_BACKFILL)
        return self._deliver()

    def _learn_period(self, seq: int, tick: int) -> None:
        if self._anchor is None:
            self._anchor = (seq, float(tick))
            return
        s0, t0 = self._anchor
        if seq - s0 >= 64:
            self._period_us = (tick - t0) / (seq - s0)
            self._unwrap.period_us = self._period_us

    def _hold(self, seq: int, t0: float, counts: npt.NDArray[np.int32], backfill: bool) -> None:
        assert self._next is not None
        n = len(counts)
        # Drop what was delivered already, or is held already.
        skip = max(0, self._next - seq)
        if skip >= n:
            self.counters.duplicates += n
            return
        if skip:
            self.counters.duplicates += skip
            seq, t0, counts = seq + skip, t0 + skip * self._period_us, counts[skip:]
        held = self._held.get(seq)
        if held is not None:
            if len(held.counts) >= len(counts):
                self.counters.duplicates += len(counts)
                return
            # A longer frame from the same sample replaces the held one: those arrived twice.
            self.counters.duplicates += len(held.counts)
            if held.backfill:
                self.counters.backfilled -= len(held.counts)
        if backfill:
            self.counters.backfilled += len(counts)
        if seq > self._top:  # beyond everything received: the samples between went missing
            self.counters.gaps += 1
        self._top = max(self._top, seq + len(counts))
        self._held[seq] = _Pending(seq, t0, counts, backfill)

    def _holes(self) -> list[tuple[int, int]]:
        if self._next is None:
            return []
        out = []
        pos = self._next
        for seq in sorted(self._held):
            if seq > pos:
                out.append((pos, seq - pos))
            pos = max(pos, seq + len(self._held[seq].counts))
        return out

    def _deliver(self) -> list[SampleBlock]:
        out = []
        while self._next is not None and self._held:
            nxt = self._next
            # Frames wholly behind the delivery point are duplicates (overlapping backfill).
            for seq in [s for s, p in self._held.items() if s + len(p.counts) <= nxt]:
                self.counters.duplicates += len(self._held.pop(seq).counts)
            start = next((s for s in sorted(self._held) if s <= nxt), None)
            if start is None:
                break
            p = self._held.pop(start)
            skip = nxt - p.seq
            self.counters.duplicates += skip
            counts = p.counts[skip:]
            n = len(counts)
            idx = np.arange(nxt, nxt + n, dtype=np.int64)
            t_us = p.t0_us + (skip + np.arange(n)) * self._period_us
            # Times only move forward: a frame's tick is exact, but the samples of the one
            # before it were spaced by a period estimate that may run a few us long.
            if t_us[0] <= self._last_t_us:
                t_us += self._last_t_us + 1.0 - t_us[0]
            self._last_t_us = float(t_us[-1])
            t = (t_us / 1e6).astype(np.float64)
            out.append(SampleBlock(self.layout.kind, self.layout.channel_names, idx, t, counts))
            self._next = nxt + n
            self.counters.delivered += n
        return out
