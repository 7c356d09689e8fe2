"""Properties of the unwrapper and the device stream over drawn frame sequences.

The frames are made from a known truth (sample k has counts k and its tick at k periods), then
dropped, duplicated, reordered and backfilled as a radio and a kit would; whatever is drawn,
what comes out must be that truth, in order, with every sample counted once.
"""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from finemotor.protocol import LAYOUTS
from finemotor.protocol.constants import SEQ_MODULUS, TICK_MODULUS
from finemotor.protocol.unwrap import Unwrapper
from finemotor.stream import DeviceStream

GRIP = LAYOUTS[2]
PERIOD_US = 3125  # 320 Hz
T0 = 1_000_000


def frame(seq: int, n: int, backfill: bool = False, base: int = 0) -> bytes:
    """Grip frame of samples ``seq..seq+n-1``; sample k's counts are ``k`` (mod 2**23)."""
    tick = (T0 + (base + seq) * PERIOD_US) % TICK_MODULUS
    head = struct.pack("<BBHIBB", 0x11 if backfill else 0x10, 2, (base + seq) % 65536, tick, n, 0)
    return head + b"".join(((base + seq + k) % (1 << 23)).to_bytes(3, "little") for k in range(n))


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(0, 2**40),
    steps=st.lists(st.integers(1, 3 * SEQ_MODULUS), min_size=1, max_size=20),
)
def test_unwrapping_recovers_indices_across_gaps_beyond_half_the_counter(
    start: int, steps: list[int]
) -> None:
    """Frames any number of samples apart (beyond 2**15 too), as long as the ticks are less
    than half their wrap apart, land on their true index and time."""
    period = 1000.0  # 1 kHz: 2**29 us of ticks hold 536,870 samples, far more than 3 x 2**16
    u = Unwrapper(period)
    truth = start
    first = u.unwrap(truth % SEQ_MODULUS, int(truth * period) % TICK_MODULUS)
    for step in steps:
        truth += step
        seq, tick = u.unwrap(truth % SEQ_MODULUS, int(truth * period) % TICK_MODULUS)
        assert seq - first[0] == truth - start
        assert tick - first[1] == int(truth * period) - int(start * period)


@st.composite
def radio(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]], list[tuple[int, int, bool]]]:
    """A kit's frames (``(seq, n)``, consecutive from ``base``) and what a radio delivers:
    each frame dropped, duplicated or delayed; the dropped ones backfilled later, whole or in
    overlapping pieces, in any order."""
    base = draw(st.integers(0, 2 * SEQ_MODULUS))
    sizes = draw(st.lists(st.integers(1, 12), min_size=2, max_size=40))
    frames, seq = [], 0
    for n in sizes:
        frames.append((seq, n))
        seq += n
    sent: list[tuple[int, int, bool]] = []
    dropped: list[tuple[int, int]] = []
    for i, (s, n) in enumerate(frames):
        fate = draw(st.sampled_from(["ok", "ok", "ok", "drop", "dup"]))
        if fate == "drop" and 0 < i < len(frames) - 1:
            dropped.append((s, n))
            continue
        sent.append((s, n, False))
        if fate == "dup":
            sent.append((s, n, False))
    backfill = []
    for s, n in dropped:
        cut = draw(st.integers(0, n))
        overlap = draw(st.integers(0, 2))
        if 0 < cut < n:  # in two pieces, overlapping a little
            backfill += [
                (s, cut, True),
                (max(s, s + cut - overlap), n - cut + min(overlap, cut), True),
            ]
        else:
            backfill.append((max(0, s - overlap), n + overlap, True))
    backfill = draw(st.permutations(backfill))
    at = draw(st.integers(1, len(sent)))  # backfill arrives after this many live frames
    return base, frames, [*sent[:at], *backfill, *sent[at:]]


@settings(max_examples=300, deadline=None)
@given(case=radio())
def test_the_stream_delivers_the_truth_whatever_the_radio_does(
    case: tuple[int, list[tuple[int, int]], list[tuple[int, int, bool]]],
) -> None:
    base, frames, delivered = case
    stream = DeviceStream(GRIP, 320.0)
    seqs, counts, ts = [], [], []
    for s, n, bf in delivered:
        for block in stream.feed(frame(s, n, bf, base)):
            seqs.append(block.seq)
            counts.append(block.counts[:, 0])
            ts.append(block.t)
    total = sum(n for _s, n in frames)
    seq = np.concatenate(seqs)
    # Every sample once, in order, nothing held back, nothing lost.
    first = base % SEQ_MODULUS  # the stream counts from the first frame's wire seq
    np.testing.assert_array_equal(seq, np.arange(first, first + total))
    np.testing.assert_array_equal(np.concatenate(counts), (seq - first + base) % (1 << 23))
    assert stream.holes() == []
    c = stream.counters
    assert c.delivered == total and c.lost == 0
    # Device time: strictly increasing, one period apart (the ticks are exact).
    t = np.concatenate(ts)
    assert np.all(np.diff(t) > 0)
    np.testing.assert_allclose(np.diff(t), PERIOD_US / 1e6, rtol=1e-6, atol=2e-6)
    # What arrived twice is counted as such, and only that; what only a backfill brought is
    # counted as backfilled.
    received = sum(n for _s, n, _bf in delivered)
    assert c.duplicates == received - total
    live = {s + k for s, n, bf in delivered if not bf for k in range(n)}
    from_backfill = sum(n for _s, n, bf in delivered if bf)
    assert total - len(live) <= c.backfilled <= from_backfill


@settings(max_examples=200, deadline=None)
@given(case=radio())
def test_holes_given_up_are_counted_lost_and_the_rest_delivered(
    case: tuple[int, list[tuple[int, int]], list[tuple[int, int, bool]]],
) -> None:
    """Without the backfill, each hole at the head is declared lost: delivered + lost equals
    what the kit took, and delivered equals what arrived at least once."""
    base, frames, delivered = case
    live = [(s, n) for s, n, bf in delivered if not bf]
    stream = DeviceStream(GRIP, 320.0)
    got = []
    for s, n in live:
        got += stream.feed(frame(s, n, False, base))
    while stream.holes():
        got += stream.declare_lost()
    total = sum(n for _s, n in frames)
    arrived = {s + k for s, n in live for k in range(n)}
    out = np.concatenate([b.seq for b in got]) - base % SEQ_MODULUS
    np.testing.assert_array_equal(out, np.array(sorted(arrived)))
    assert stream.counters.delivered + stream.counters.lost == total
