"""The firmware's ring buffer and framer under MicroPython, read back by the host decoder.

A scripted link (up, down for 4 s, up, down for 40 s, up) and synthetic samples whose value and
tick are known from their index let the host check every sample, gap and counter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from finemotor.protocol import decode_frames
from finemotor.protocol.unwrap import Unwrapper
from mpy_runner import run_mpy

SCRIPT = Path(__file__).resolve().parent / "mpy" / "framer_fw.py"
T0 = (1 << 30) - 2_000_000


@dataclass
class Run:
    frames: list[bytes]
    events: dict[str, list[int]]
    heap: int


def run_framer(rate: int, mtu: int) -> Run:
    proc = run_mpy(SCRIPT, str(rate), str(mtu))
    assert proc.returncode == 0, proc.stderr
    frames, events, heap = [], {}, -1
    for line in proc.stdout.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "F":
            frames.append(bytes.fromhex(rest))
        elif tag == "E":
            name, *nums = rest.split()
            events[name] = [int(n) for n in nums]
        elif tag == "HEAP":
            heap = int(rest.split()[0])
    return Run(frames, events, heap)


@pytest.fixture(scope="module")
def stylus_run() -> Run:
    return run_framer(200, 247)


def expected_counts(idx: np.ndarray) -> np.ndarray:
    return np.stack((idx * 7 - 3000, idx % 4096, (idx * 3) % 4096), axis=1)


def test_every_sample_sent_arrives_with_its_value_and_tick(stylus_run: Run) -> None:
    dec, errors = decode_frames(stylus_run.frames)
    assert not errors and dec is not None
    unwrap = Unwrapper(5000)
    bounds = dec.frame_bounds()
    for f in range(dec.n_frames):
        seq, tick = unwrap.unwrap(int(dec.seq[f]), int(dec.tick[f]))
        idx = np.arange(seq, seq + dec.count[f])
        np.testing.assert_array_equal(dec.counts[bounds[f] : bounds[f + 1]], expected_counts(idx))
        true_tick = T0 + seq * 5000
        assert true_tick - 8 < tick <= true_tick  # exact to the ring's 8 us


def test_short_drop_loses_nothing_and_long_drop_reports_exact_loss(stylus_run: Run) -> None:
    dec, _ = decode_frames(stylus_run.frames)
    assert dec is not None
    live = dec.ftype == 0
    unwrap = Unwrapper(5000)
    firsts = np.array(
        [unwrap.unwrap(int(s), int(t))[0] for s, t in zip(dec.seq, dec.tick, strict=True)]
    )
    starts, counts = firsts[live], dec.count[live]
    gaps = starts[1:] - (starts[:-1] + counts[:-1])
    assert (gaps >= 0).all()
    assert stylus_run.events["phase2"][1] == 0  # after the 4 s drop: nothing overwritten
    overwritten = stylus_run.events["phase3"][1]
    assert overwritten > 0
    assert gaps.sum() == overwritten  # the one gap the host sees is exactly what was lost
    assert np.count_nonzero(gaps) == 1
    taken, pending = stylus_run.events["end"]
    assert starts[0] == 0
    assert int(counts.sum()) + overwritten + pending == taken  # every sample accounted for


def test_latency_batches_and_backlog_frames(stylus_run: Run) -> None:
    dec, _ = decode_frames(stylus_run.frames)
    assert dec is not None
    live_counts = dec.count[dec.ftype == 0]
    assert max(len(f) for f in stylus_run.frames) <= 247 - 3
    assert np.median(live_counts) == 4  # 20 ms of samples at 200 Hz per frame
    assert live_counts.max() == (244 - 10) // 6  # backlogs drain in full frames


def test_backfill_resends_held_samples_and_counts_the_gone(stylus_run: Run) -> None:
    first, queued, gone = stylus_run.events["backfill_old"]
    assert (queued, gone) == (0, 500)
    first, queued, gone = stylus_run.events["backfill_recent"]
    assert (queued, gone) == (200, 0)
    dec, _ = decode_frames(stylus_run.frames)
    assert dec is not None
    bf = np.flatnonzero(dec.ftype == 1)
    assert dec.count[bf].sum() == 200
    assert int(dec.seq[bf[0]]) == first


def test_sampling_path_allocates_nothing(stylus_run: Run) -> None:
    assert stylus_run.events["heap_locked_sampling"] == [1]


def test_default_mtu_still_works() -> None:
    run = run_framer(200, 23)
    dec, errors = decode_frames(run.frames)
    assert not errors and dec is not None
    assert max(len(f) for f in run.frames) <= 20
    assert set(dec.count.tolist()) == {1}
