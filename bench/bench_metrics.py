"""Metrics engine cost: live update cost as a fraction of real time, offline summary speed.

Live: stylus blocks of 4 samples at 200 Hz and grip blocks of 6 samples at 320 Hz (one BLE
batch each, ~20 ms), fed to the live engines with their snapshots (5 Hz). The figure is
processing time / recording time (1% = one hundredth of a core). Offline: a 60-minute stylus
recording in one call. Memory: Python heap held by a live engine after 2 and 10 minutes.
Median of several runs.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc

import numpy as np

from finemotor.calibration import ChannelCalibration, DeviceCalibration
from finemotor.metrics import GripEngine, PenEngine, summarize_block
from finemotor.samples import SampleBlock

RUNS = 3
PEN_FS = 200.0
GRIP_FS = 320.0
STYLUS_CAL = DeviceCalibration(
    1,
    (
        ChannelCalibration("linear", 0, (1e-4,)),
        ChannelCalibration("table", 0, (0, 0.0, 2000, 1.0, 5000, 4.0, 9000, 12.0)),
        ChannelCalibration("table", 0, (0, 0.0, 2000, 1.0, 5000, 4.0, 9000, 12.0)),
    ),
)
GRIP_CAL = DeviceCalibration(1, (ChannelCalibration("linear", 0, (0.001,)),))


def stylus(seconds: float, seed: int = 1) -> SampleBlock:
    """Writing: strokes of ~0.25 s, a 3 s tracing segment every 20 s, noise."""
    rng = np.random.default_rng(seed)
    n = round(seconds * PEN_FS)
    t = np.arange(n) / PEN_FS
    phase = (t % 0.45) / 0.25
    tip = np.where(phase < 1.0, 1.5 * (1 + 0.2 * np.sin(np.pi * phase)), 0.0)
    tip = np.where((t % 20.0) < 3.0, 1.8 + 0.05 * np.sin(2 * np.pi * 9.0 * t), tip)
    tip += 0.002 * rng.standard_normal(n)
    pad = np.interp(1.0 + 0.6 * tip, [0.0, 1.0, 4.0, 12.0], [0, 2000, 5000, 9000])
    counts = np.stack([np.round(tip * 1e4), np.round(pad), np.round(pad)], axis=1)
    return SampleBlock(
        "stylus", ("tip", "barrel_a", "barrel_b"), np.arange(n), t, counts.astype(np.int32)
    )


def grip(seconds: float, seed: int = 1) -> SampleBlock:
    """A squeeze of ~4 s every 8 s, noise."""
    rng = np.random.default_rng(seed)
    n = round(seconds * GRIP_FS)
    t = np.arange(n) / GRIP_FS
    x = t % 8.0 - 1.0
    shape = np.clip(np.minimum(x / 0.6, (3.9 - x) / 0.3), 0, 1)
    f = 150.0 * (0.5 - 0.5 * np.cos(np.pi * shape)) + 0.2 * rng.standard_normal(n)
    return SampleBlock(
        "grip", ("force",), np.arange(n), t, np.round(f / 0.001).astype(np.int32)[:, None]
    )


def blocks(b: SampleBlock, size: int) -> list[SampleBlock]:
    return [
        SampleBlock(
            b.kind, b.channels, b.seq[i : i + size], b.t[i : i + size], b.counts[i : i + size]
        )
        for i in range(0, len(b), size)
    ]


def live_ratio(make: object, data: list[SampleBlock], seconds: float) -> float:
    runs = []
    for _ in range(RUNS):
        engine = make()  # type: ignore[operator]
        t0 = time.perf_counter()
        for blk in data:
            engine.feed(blk)
        engine.finish()
        runs.append((time.perf_counter() - t0) / seconds)
    return statistics.median(runs)


def heap_growth(minutes: tuple[int, ...]) -> list[float]:
    """KiB of Python heap held by a live pen engine after each number of minutes."""
    data = blocks(stylus(60.0 * max(minutes)), 4)
    warm = PenEngine(STYLUS_CAL, PEN_FS)  # fill numpy/scipy caches first
    for blk in data[:3000]:
        warm.feed(blk)
    del warm
    gc.collect()
    per_minute = round(60 * PEN_FS / 4)
    marks = {m * per_minute: m for m in minutes}
    out = []
    tracemalloc.start()
    engine = PenEngine(STYLUS_CAL, PEN_FS)
    base = tracemalloc.get_traced_memory()[0]
    for i, blk in enumerate(data, 1):
        engine.feed(blk)
        if i in marks:
            gc.collect()
            out.append((tracemalloc.get_traced_memory()[0] - base) / 1024)
    tracemalloc.stop()
    return out


def main() -> None:
    """Print the figures."""
    minutes = 3.0
    pen_data = blocks(stylus(60 * minutes), 4)
    r = live_ratio(lambda: PenEngine(STYLUS_CAL, PEN_FS), pen_data, 60 * minutes)
    print(f"live pen, 200 Hz in 4-sample blocks: {100 * r:.2f}% of real time ({1 / r:.0f}x faster)")
    grip_data = blocks(grip(60 * minutes), 6)
    r = live_ratio(lambda: GripEngine(GRIP_CAL, GRIP_FS), grip_data, 60 * minutes)
    print(
        f"live grip, 320 Hz in 6-sample blocks: {100 * r:.2f}% of real time ({1 / r:.0f}x faster)"
    )
    hour = stylus(3600.0)
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        summarize_block(hour, STYLUS_CAL, PEN_FS)
        runs.append(time.perf_counter() - t0)
    print(f"offline pen summary of 60 min at 200 Hz: {statistics.median(runs):.2f} s")
    h2, h10 = heap_growth((2, 10))
    print(
        f"live pen engine heap: {h2:.0f} KiB after 2 min, {h10:.0f} KiB after 10 min "
        "(the growth is one small summary per finished minute)"
    )
