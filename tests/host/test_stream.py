"""DeviceStream: de-duplication, holes held back and filled, losses counted, device time."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from finemotor.protocol import LAYOUTS
from finemotor.stream import DeviceStream

GRIP = LAYOUTS[2]
PERIOD_US = 3125  # 320 Hz


def frame(seq: int, n: int, ftype: int = 0, t0: int = 1_000_000) -> bytes:
    """A grip frame whose samples' counts equal their index (spec: docs/protocol.md)."""
    tick = (t0 + seq * PERIOD_US) % (1 << 30)
    head = struct.pack("<BBHIBB", 0x10 | ftype, 2, seq % 65536, tick, n, 0)
    return head + b"".join(((seq + k) & 0xFFFFFF).to_bytes(3, "little") for k in range(n))


def collect(stream: DeviceStream, frames: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    seqs, ts = [], []
    for f in frames:
        for block in stream.feed(f):
            np.testing.assert_array_equal(block.counts[:, 0], block.seq)
            seqs.append(block.seq)
            ts.append(block.t)
    if not seqs:
        return np.array([], dtype=np.int64), np.array([])
    return np.concatenate(seqs), np.concatenate(ts)


def test_in_order_frames_come_out_whole_on_device_time() -> None:
    s = DeviceStream(GRIP, 320)
    seq, t = collect(s, [frame(k * 6, 6) for k in range(100)])
    np.testing.assert_array_equal(seq, np.arange(600))
    np.testing.assert_allclose(np.diff(t), PERIOD_US / 1e6, rtol=1e-9)
    assert t[0] == pytest.approx(1.0)
    assert s.counters.delivered == 600 and s.counters.gaps == 0


def test_duplicates_are_dropped_and_counted() -> None:
    s = DeviceStream(GRIP, 320)
    seq, _ = collect(s, [frame(0, 6), frame(6, 6), frame(6, 6), frame(12, 6)])
    np.testing.assert_array_equal(seq, np.arange(18))
    assert s.counters.duplicates == 6


def test_a_hole_is_held_back_asked_for_and_filled_in_order() -> None:
    s = DeviceStream(GRIP, 320)
    seq, _ = collect(s, [frame(0, 6), frame(12, 6), frame(18, 6)])
    np.testing.assert_array_equal(seq, np.arange(6))  # 12..23 wait behind the hole
    assert s.missing() == [(6, 6)]
    assert s.missing() == []  # asked once
    seq, _ = collect(s, [frame(6, 6, ftype=1)])
    np.testing.assert_array_equal(seq, np.arange(6, 24))
    assert (s.counters.gaps, s.counters.backfilled, s.counters.lost) == (1, 6, 0)


def test_overlapping_backfill_fills_and_counts_the_overlap() -> None:
    s = DeviceStream(GRIP, 320)
    collect(s, [frame(0, 6), frame(30, 6)])
    seq, _ = collect(s, [frame(6, 20, ftype=1), frame(26, 8, ftype=1)])
    np.testing.assert_array_equal(seq, np.arange(6, 36))
    assert s.counters.duplicates == 4
    assert s.counters.backfilled == 28


def test_a_hole_the_device_cannot_resend_is_counted_lost() -> None:
    s = DeviceStream(GRIP, 320)
    collect(s, [frame(0, 6), frame(100, 6)])
    blocks = s.declare_lost(wire_seq=6, count=94)
    assert [b.seq[0] for b in blocks] == [100]
    assert s.counters.lost == 94
    assert s.counters.delivered == 12


def test_malformed_notifications_are_counted_and_the_stream_goes_on() -> None:
    s = DeviceStream(GRIP, 320)
    good = frame(0, 6)
    seq, _ = collect(s, [good[:7], frame(0, 6), good + b"\x00", frame(6, 6)])
    np.testing.assert_array_equal(seq, np.arange(12))
    assert s.counters.malformed == 2
    assert "malformed" in s.counters.last_error


def test_sequence_and_tick_wrap_are_invisible() -> None:
    s = DeviceStream(GRIP, 320)
    start = 65536 - 30
    t0 = (1 << 30) - start * PERIOD_US - 40_000  # the ticks wrap a few frames in, too
    frames = [frame(start + 6 * k, 6, t0=t0) for k in range(20)]
    seq, t = collect(s, frames)
    np.testing.assert_array_equal(seq - seq[0], np.arange(120))
    np.testing.assert_allclose(np.diff(t), PERIOD_US / 1e6, rtol=1e-6)


def test_times_never_go_backwards_when_the_period_estimate_runs_long() -> None:
    s = DeviceStream(GRIP, 250)  # nominal period 4000 us, the device runs at 3125 us
    seq, t = collect(s, [frame(k * 6, 6) for k in range(30)])
    assert (np.diff(t) > 0).all()
    np.testing.assert_array_equal(seq, np.arange(180))
