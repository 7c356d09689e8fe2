"""Live engines: SampleBlocks in; at the end, values equal to the offline summary's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finemotor.calibration import ChannelCalibration, DeviceCalibration
from finemotor.errors import CalibrationError, FinemotorError
from finemotor.metrics import (
    GripContext,
    GripEngine,
    PenConfig,
    PenEngine,
    summarize_block,
    summarize_grip,
    summarize_pen,
    to_jsonable,
)
from finemotor.samples import SampleBlock

PEN_FS = 200.0
GRIP_FS = 320.0
TIP = ChannelCalibration("linear", zero=1000, coeffs=(1e-4,))  # 10 000 counts per newton
FSR = ChannelCalibration("table", zero=0, coeffs=(0, 0.0, 2000, 1.0, 5000, 4.0, 9000, 12.0))
STYLUS_CAL = DeviceCalibration(1_700_000_000, (TIP, FSR, FSR))
GRIP_CAL = DeviceCalibration(1_700_000_000, (ChannelCalibration("linear", 0, (0.001,)),))


def stylus_block(seconds: float, seed: int = 0) -> SampleBlock:
    """Words of strokes with a 10 Hz tremor, barrel pads following the tip, as counts."""
    rng = np.random.default_rng(seed)
    n = round(seconds * PEN_FS)
    t = np.arange(n) / PEN_FS + 12.5  # device clock does not start at 0
    phase = (t % 0.45) / 0.25
    down = phase < 1.0
    level = 1.5 + 0.3 * np.sin(2 * np.pi * t / 37.0)
    tip = np.where(down, level * (1 + 0.2 * np.sin(np.pi * phase)), 0.0)
    long_stroke = (t % 20.0) < 3.0  # a 3 s continuous segment every 20 s
    tip = np.where(long_stroke, 1.8 + 0.05 * np.sin(2 * np.pi * 9.0 * t), tip)
    tip += 0.005 * rng.standard_normal(n)
    pad = np.interp(1.0 + 0.6 * tip, [0.0, 1.0, 4.0, 12.0], [0, 2000, 5000, 9000])
    counts = np.stack(
        [1000 + np.round(tip * 1e4), np.round(pad), np.round(pad * 1.1)], axis=1
    ).astype(np.int32)
    return SampleBlock(
        "stylus", ("tip", "barrel_a", "barrel_b"), np.arange(n, dtype=np.int64), t, counts
    )


def grip_block(seconds: float, seed: int = 0) -> SampleBlock:
    rng = np.random.default_rng(seed)
    n = round(seconds * GRIP_FS)
    t = np.arange(n) / GRIP_FS + 3.0
    f = np.zeros(n)
    for k, start in enumerate(np.arange(5.0, seconds - 5.0, 6.0)):
        x = t - start
        shape = np.clip(np.minimum(x / 0.6, (3.9 - x) / 0.3), 0, 1)
        f += (150.0 - 4 * k) * (0.5 - 0.5 * np.cos(np.pi * shape))
    f += 0.2 * rng.standard_normal(n)
    counts = np.round(f / 0.001).astype(np.int32)[:, None]
    return SampleBlock("grip", ("force",), np.arange(n, dtype=np.int64), t, counts)


def pieces(block: SampleBlock, seed: int, max_len: int = 40) -> list[SampleBlock]:
    rng = np.random.default_rng(seed)
    cuts = np.cumsum(rng.integers(1, max_len, size=len(block)))
    cuts = cuts[cuts < len(block)]
    out = []
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(block)], strict=True):
        out.append(
            SampleBlock(block.kind, block.channels, block.seq[a:b], block.t[a:b], block.counts[a:b])
        )
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_pen_live_equals_offline(seed: int) -> None:
    block = stylus_block(150.0, seed)
    engine = PenEngine(STYLUS_CAL, PEN_FS)
    for p in pieces(block, seed):
        engine.feed(p)
    live = to_jsonable(engine.finish())
    offline = to_jsonable(summarize_block(block, STYLUS_CAL, PEN_FS))
    assert live == offline  # exactly, float for float
    tip = TIP.to_newtons(block.counts[:, 0])
    barrel = FSR.to_newtons(block.counts[:, 1]) + FSR.to_newtons(block.counts[:, 2])
    arrays = to_jsonable(summarize_pen(block.t, tip, barrel, rate_hz=PEN_FS))
    assert arrays == offline
    assert offline["tremor"]["windows"]["value"] > 0
    assert offline["barrel"]["grip_to_axial"]["value"] is not None


@pytest.mark.parametrize("seed", [1, 2])
def test_grip_live_equals_offline(seed: int) -> None:
    block = grip_block(60.0, seed)
    engine = GripEngine(GRIP_CAL, GRIP_FS)
    engine.set_context(GripContext("right", "repeated"))
    for p in pieces(block, seed, 60):
        engine.feed(p)
    live = to_jsonable(engine.finish())
    ctx = [(-np.inf, GripContext("right", "repeated"))]
    offline = to_jsonable(summarize_block(block, GRIP_CAL, GRIP_FS, contexts=ctx))
    assert live == offline
    force = GRIP_CAL.channels[0].to_newtons(block.counts[:, 0])
    assert to_jsonable(summarize_grip(block.t, force, rate_hz=GRIP_FS, contexts=ctx)) == offline
    assert len(offline["trials"]) == 9
    assert offline["hands"]["right"]["fatigue_index"]["value"] is not None


def test_snapshots_at_five_hertz_and_values_live() -> None:
    block = stylus_block(10.0)
    engine = PenEngine(STYLUS_CAL, PEN_FS)
    snaps = [s for p in pieces(block, 3, 5) if (s := engine.feed(p)) is not None]
    assert len(snaps) >= 5 * 10 - 1
    gaps = np.diff([s.t for s in snaps])
    assert gaps.max() <= 0.2 + 5 / PEN_FS
    last = snaps[-1]
    assert last.current["tip"].unit == "N"
    assert last.summary.timing["strokes"].value > 10
    assert last.summary.quality["final"] is False


def test_grip_snapshot_shows_force_in_kgf() -> None:
    engine = GripEngine(GRIP_CAL, GRIP_FS)
    block = grip_block(20.0)
    snap = None
    for p in pieces(block, 1):
        snap = engine.feed(p) or snap
    assert snap is not None
    j = to_jsonable(snap.current["force"])
    assert j["unit"] == "N" and ("display" in j) == (j["value"] is not None)


def test_memory_stays_bounded_over_a_long_session() -> None:
    block = stylus_block(300.0)
    engine = PenEngine(STYLUS_CAL, PEN_FS)
    held = []
    for k, p in enumerate(pieces(block, 5, 40)):
        engine.feed(p)
        if k % 50 == 0:
            held.append(engine.core.buffered_samples)
    # a stroke piece (10 s), a Welch window (2 s) and the pen-down delay: not the session
    assert max(held) < 13 * PEN_FS
    bins = engine.core._bins
    assert bins is not None
    frozen = [b for b in bins._bins.values() if b.tip is None]
    assert len(frozen) >= len(bins._bins) - 2

    grip = GripEngine(GRIP_CAL, GRIP_FS)
    g_held = []
    for k, p in enumerate(pieces(grip_block(120.0), 5, 40)):
        grip.feed(p)
        if k % 50 == 0:
            g_held.append(grip.core.buffered_samples)
    assert max(g_held) < 8 * GRIP_FS  # one trial and its pre-window


def test_uncalibrated_pads_give_unit_free_barrel_metrics() -> None:
    cal = DeviceCalibration(1, (TIP, ChannelCalibration("none", 0), ChannelCalibration("none", 0)))
    block = stylus_block(30.0)
    s = summarize_block(block, cal, PEN_FS)
    assert s.units == {"tip": "N", "barrel": "raw"}
    assert s.barrel["mean"].value is None and "uncalibrated" in (s.barrel["mean"].reason or "")
    assert s.barrel["cv"].value is not None and s.barrel["cv"].note is not None
    assert s.barrel["grip_to_axial"].value is None
    assert s.force["mean"].value is not None


def test_uncalibrated_devices_keep_their_unit_free_metrics_live() -> None:
    # a tip at the reference hardware's 328 474 counts/N and a grip at 4 380 counts/N,
    # without a calibration: pen-down and trigger levels at that nominal scale, so strokes,
    # CVs and times are there, and nothing in newtons
    base = stylus_block(30.0)
    tip_n = (base.counts[:, 0] - 1000) / 1e4
    counts = base.counts.copy()
    counts[:, 0] = np.round(tip_n * 328_474.0).astype(np.int32)
    nominal = SampleBlock(base.kind, base.channels, base.seq, base.t, counts)
    none = DeviceCalibration.uncalibrated(3)
    raw = summarize_block(nominal, none, PEN_FS)
    calibrated = summarize_block(base, STYLUS_CAL, PEN_FS)
    assert isinstance(raw, type(calibrated))
    assert raw.units["tip"] == "raw" and raw.force["mean"].value is None
    assert raw.timing["strokes"].value == calibrated.timing["strokes"].value
    assert raw.force["cv"].value == pytest.approx(calibrated.force["cv"].value, rel=1e-3)
    g = grip_block(40.0)
    g_counts = np.round(g.counts * (4_380.0 / 1000.0)).astype(np.int32)
    graw = summarize_block(
        SampleBlock(g.kind, g.channels, g.seq, g.t, g_counts),
        DeviceCalibration.uncalibrated(1),
        GRIP_FS,
    )
    gcal = summarize_block(g, GRIP_CAL, GRIP_FS)
    assert len(graw.trials) == len(gcal.trials) == 5
    assert graw.trials[0].peak.value is None
    assert "nominal" in graw.trials[0].definitions["trigger"]
    hr, hc = graw.hands["unspecified"], gcal.hands["unspecified"]
    assert hr["cv"].value == pytest.approx(hc["cv"].value, rel=1e-3)
    cfg = PenConfig(on=0.15e4 + 1000, off=0.08e4 + 1000, threshold_unit="raw")
    cal0 = DeviceCalibration(0, tuple(ChannelCalibration("none", 0) for _ in range(3)))
    given = summarize_block(base, cal0, PEN_FS, pen_config=cfg)
    assert given.timing["strokes"].value == calibrated.timing["strokes"].value


def test_saturated_counts_are_flagged() -> None:
    block = grip_block(20.0)
    limit = 140_000  # counts: 140 N with this calibration
    clipped = np.minimum(block.counts, limit)
    sat_block = SampleBlock(block.kind, block.channels, block.seq, block.t, clipped)
    s = summarize_block(sat_block, GRIP_CAL, GRIP_FS, count_limits=(-limit, limit))
    assert s.quality["saturated_samples"] > 0
    assert s.trials[0].peak.value is None and "saturated" in s.trials[0].flags


def test_calibration_must_match_the_channels() -> None:
    engine = PenEngine(DeviceCalibration(1, (TIP, FSR, FSR)), PEN_FS)
    bad = SampleBlock(
        "stylus",
        ("tip", "barrel_a"),
        np.arange(3),
        np.arange(3) / PEN_FS,
        np.zeros((3, 2), dtype=np.int32),
    )
    with pytest.raises(FinemotorError, match="channel layout"):
        engine.feed(bad)
    two = PenEngine(DeviceCalibration(1, (TIP, FSR, FSR)), PEN_FS, channels=("tip", "barrel_a"))
    with pytest.raises(CalibrationError, match="read the calibration"):
        two.feed(bad)
    with pytest.raises(FinemotorError, match="grip blocks"):
        GripEngine(GRIP_CAL, GRIP_FS).feed(bad)
    with pytest.raises(CalibrationError, match="no channel"):
        PenEngine(DeviceCalibration(1, (TIP,)), PEN_FS)


def split_at(block: SampleBlock, lengths: list[int]) -> list[SampleBlock]:
    """``block`` cut into pieces of the drawn lengths (the last piece takes what is left)."""
    out, a = [], 0
    for n in [*lengths, len(block)]:
        b = min(len(block), a + n)
        if b > a:
            out.append(
                SampleBlock(
                    block.kind,
                    block.channels,
                    *(x[a:b] for x in (block.seq, block.t, block.counts)),
                )
            )
        a = b
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lengths=st.lists(st.integers(1, 700), max_size=30), seed=st.integers(0, 3))
def test_pen_live_equals_offline_wherever_the_blocks_are_cut(lengths: list[int], seed: int) -> None:
    block = stylus_block(45.0, seed)
    engine = PenEngine(STYLUS_CAL, PEN_FS)
    for p in split_at(block, lengths):
        engine.feed(p)
    assert to_jsonable(engine.finish()) == to_jsonable(summarize_block(block, STYLUS_CAL, PEN_FS))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lengths=st.lists(st.integers(1, 1500), max_size=30), seed=st.integers(0, 3))
def test_grip_live_equals_offline_wherever_the_blocks_are_cut(
    lengths: list[int], seed: int
) -> None:
    block = grip_block(30.0, seed)
    engine = GripEngine(GRIP_CAL, GRIP_FS)
    for p in split_at(block, lengths):
        engine.feed(p)
    offline = summarize_block(block, GRIP_CAL, GRIP_FS)
    assert to_jsonable(engine.finish()) == to_jsonable(offline)
