"""Turn the wire's wrapping counters into absolute sample indices and device time."""

from __future__ import annotations

from finemotor.protocol.constants import SEQ_MODULUS, TICK_MODULUS


class Unwrapper:
    """Unwrap one device's frame counters, frame by frame, in arrival order.

    Ticks (µs mod 2**30) unwrap to the nearest value around the last tick seen, which holds
    while frames are less than 8.9 minutes apart. Sequence numbers (mod 2**16) unwrap to the
    candidate that best agrees with the time elapsed at the device's sample period, so a gap
    longer than 2**15 samples, or a backfill frame from the past, still lands on its index.

    Args:
        period_us: nominal sample period of the device in microseconds.
    """

    def __init__(self, period_us: float) -> None:
        self.period_us = period_us
        self._seq: int | None = None
        self._tick: int | None = None

    def unwrap(self, wire_seq: int, wire_tick: int) -> tuple[int, int]:
        """Return (absolute sample index, absolute device time in µs) of a frame's first sample."""
        if self._seq is None or self._tick is None:
            self._seq, self._tick = wire_seq, wire_tick
            return wire_seq, wire_tick
        half_t = TICK_MODULUS // 2
        dt = (wire_tick - self._tick + half_t) % TICK_MODULUS - half_t
        tick = self._tick + dt
        expected = dt / self.period_us
        d = (wire_seq - self._seq) % SEQ_MODULUS
        d += SEQ_MODULUS * round((expected - d) / SEQ_MODULUS)
        seq = self._seq + d
        if seq >= self._seq:
            self._seq, self._tick = seq, tick
        return seq, tick

    def tick_near(self, wire_tick: int) -> int | None:
        """Unwrap a tick from another message (e.g. TIME_SYNC) near the last frame's tick.

        Returns None before the first frame.
        """
        if self._tick is None:
            return None
        half_t = TICK_MODULUS // 2
        return self._tick + (wire_tick - self._tick + half_t) % TICK_MODULUS - half_t
