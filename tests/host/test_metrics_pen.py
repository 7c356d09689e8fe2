"""Pen metrics on analytic signals with known answers, and on edge cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from finemotor.metrics import PenConfig, PenCore, summarize_pen, to_jsonable

FS = 200.0


def _value(m: Any) -> Any:
    return m.value


def strokes_signal(
    n: int, level: Callable[[float], float], dur: float = 0.3, gap: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """Square strokes of ``dur`` s every ``dur + gap`` s, level by stroke start time."""
    period = dur + gap
    t = np.arange(round(n * period * FS)) / FS
    k = np.floor(t / period + 1e-9)
    inside = (t - k * period) < dur - 1e-9
    starts = k * period
    lv = np.array([level(s) for s in np.unique(starts)])
    tip = np.where(inside, lv[k.astype(int)], 0.0)
    return t, tip


def modulated(seconds: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """Continuous pen-down: 2 N, a 2 Hz writing wave of 0.4 N and a 10 Hz tremor of 0.1 N."""
    t = np.arange(round(seconds * FS)) / FS
    tip = 2.0 + 0.4 * np.sin(2 * np.pi * 2.0 * t) + 0.1 * np.sin(2 * np.pi * 10.0 * t)
    return t, tip


def test_modulated_force_known_cv_and_tremor_share() -> None:
    t, tip = modulated()
    s = summarize_pen(t, tip, 3.0 + 0.5 * tip, rate_hz=FS)
    cv_true = 100 * np.sqrt((0.4**2 + 0.1**2) / 2) / 2.0
    assert s.force["cv"].value == pytest.approx(cv_true, rel=1e-3)
    assert s.force["mean"].value == pytest.approx(2.0, abs=1e-9)
    assert s.force["sd"].unit == "N"
    share = 0.1**2 / (0.4**2 + 0.1**2)
    assert s.tremor["share_4_12"].value == pytest.approx(share, abs=0.003)
    assert s.tremor["share_8_12"].value == pytest.approx(share, abs=0.003)
    assert s.tremor["peak_hz_4_12"].value == 10.0
    assert s.tremor["peak_hz_8_12"].value == 10.0
    assert s.tremor["windows"].value == 59  # 2 s windows, 1 s apart, over 60 s
    assert s.tremor["share_4_12"].note is None  # task unknown: no free-writing flag
    # 2 Hz wave: 2 peaks and 2 troughs a second; the tremor ripple is below prominence
    assert s.force["fluidity"].value == pytest.approx(4.0, abs=0.1)
    assert s.timing["strokes"].value == 1
    assert s.barrel["mean"].value == pytest.approx(4.0)
    assert s.barrel["grip_to_axial"].value == pytest.approx(2.0)
    # barrel = 3 + 0.5 tip: its SD is half the tip's (the waves' RMS), its mean 4 N
    sd_tip = np.sqrt((0.4**2 + 0.1**2) / 2)
    assert s.barrel["cv"].value == pytest.approx(100 * 0.5 * sd_tip / 4.0, rel=1e-3)


def test_tremor_share_is_flagged_on_free_writing() -> None:
    t, tip = modulated(10.0)
    s = summarize_pen(t, tip, rate_hz=FS, config=PenConfig(task="free_writing"))
    assert s.tremor["share_4_12"].note is not None
    assert "8_12" in s.tremor["share_4_12"].note
    assert s.tremor["share_8_12"].note is None


def test_strokes_timing_and_between_stroke_cv() -> None:
    n = 40
    t, tip = strokes_signal(n, lambda s: 1.0 if round(s / 0.5) % 2 == 0 else 2.0)
    s = summarize_pen(t, tip, rate_hz=FS)
    assert s.timing["strokes"].value == n
    assert s.timing["pen_lifts"].value == n - 1
    assert s.timing["on_paper_s"].value == pytest.approx(n * 0.3)
    assert s.timing["in_air_s"].value == pytest.approx((n - 1) * 0.2)
    assert s.timing["in_air_ratio"].value == pytest.approx((n - 1) * 0.2 / (n * 0.3))
    writing = n * 0.3 + (n - 1) * 0.2
    assert s.timing["writing_time_s"].value == pytest.approx(writing)
    assert s.timing["strokes_per_min"].value == pytest.approx(n / writing * 60)
    assert s.timing["lifts_per_min"].value == pytest.approx((n - 1) / writing * 60)
    assert s.force["mean"].value == pytest.approx(1.5)
    assert s.force["within_stroke_cv"].value == pytest.approx(0.0, abs=1e-9)
    means = np.tile([1.0, 2.0], n // 2)
    assert s.force["between_stroke_cv"].value == pytest.approx(100 * np.std(means, ddof=1) / 1.5)
    assert s.force["fluidity"].value == pytest.approx(0.0, abs=0.01)
    assert s.barrel["mean"].reason == "no barrel channels in this recording"


def test_within_stroke_cv_is_the_mean_of_stroke_cvs() -> None:
    # each stroke: a ramp 1 N -> 2 N; within-stroke CV identical for every stroke
    t, base = strokes_signal(20, lambda s: 1.0)
    phase = (t % 0.5) / 0.3
    tip = np.where(base > 0, 1.0 + phase, 0.0)
    s = summarize_pen(t, tip, rate_hz=FS)
    one = tip[(t >= 0) & (t < 0.3 - 1e-9)]
    expect = 100 * np.std(one, ddof=1) / np.mean(one)
    assert s.force["within_stroke_cv"].value == pytest.approx(expect, rel=1e-9)


def test_endurance_bins_slope_and_decline() -> None:
    # 6 minutes at 120 strokes/min; stroke force falls by 0.1 N each minute
    t, tip = strokes_signal(6 * 120, lambda s: 2.0 - 0.1 * np.floor(s / 60.0 + 1e-9))
    s = summarize_pen(t, tip, rate_hz=FS)
    bins = s.endurance.bins
    assert len(bins) == 6 and [b.index for b in bins] == list(range(6))
    assert [_value(b.mean_force) for b in bins] == pytest.approx([2.0, 1.9, 1.8, 1.7, 1.6, 1.5])
    assert [_value(b.writing_rate) for b in bins[:5]] == pytest.approx([120.0] * 5)
    trends = s.endurance.trends
    assert trends.mean_force is not None and trends.force_cv is not None
    assert trends.writing_rate is not None and trends.barrel_grip is not None
    assert trends.mean_force.slope.value == pytest.approx(-5.0)
    assert trends.mean_force.decline.value == pytest.approx(100 * (1.55 - 1.95) / 1.95)
    assert trends.force_cv.slope.value == pytest.approx(0.0, abs=1e-6) or (
        trends.force_cv.slope.reason is not None
    )
    assert trends.writing_rate.slope.value == pytest.approx(0.0, abs=0.5)
    assert trends.barrel_grip.slope.reason == "no barrel channels in this recording"
    assert s.endurance.reason is None


def test_short_last_bin_is_left_out_of_trends() -> None:
    t, tip = strokes_signal(2 * 120 + 20, lambda s: 2.0 if s < 120 else 1.0)
    s = summarize_pen(t, tip, rate_hz=FS)
    bins = s.endurance.bins
    assert len(bins) == 3
    assert bins[2].duration_s.value < 30
    force_trend = s.endurance.trends.mean_force
    assert force_trend is not None
    assert force_trend.slope.value == pytest.approx(0.0)  # bins 0, 1 only
    assert "4 full bins" in (force_trend.decline.reason or "")


def test_raw_units_give_unit_free_metrics_only() -> None:
    t, tip = modulated(20.0)
    newton = summarize_pen(t, tip, rate_hz=FS)
    raw = summarize_pen(t, 1000.0 * tip, rate_hz=FS, unit="raw")
    assert raw.force["mean"].value is None and "uncalibrated" in (raw.force["mean"].reason or "")
    assert raw.force["cv"].value == pytest.approx(newton.force["cv"].value, rel=1e-9)
    assert raw.tremor["share_8_12"].value == pytest.approx(newton.tremor["share_8_12"].value)
    assert raw.timing["on_paper_s"].value == newton.timing["on_paper_s"].value


def test_thresholds_in_the_wrong_unit_are_refused() -> None:
    core = PenCore(FS, PenConfig(), tip_unit="raw")
    t, tip = modulated(5.0)
    core.push(t, tip)
    core.finish()
    s = core.summary()
    assert s.force["cv"].value is None
    assert "thresholds" in (s.force["cv"].reason or "")


@pytest.mark.parametrize(
    ("t", "tip", "reason"),
    [
        (np.array([]), np.array([]), "no samples"),
        (np.array([0.0]), np.array([1.0]), "no pen-down"),
        (np.arange(2000) / FS, np.zeros(2000), "no pen-down"),
        (np.arange(2000) / FS, np.full(2000, np.nan), "no samples"),
    ],
)
def test_empty_single_flat_nan(t: np.ndarray, tip: np.ndarray, reason: str) -> None:
    s = summarize_pen(t, tip, rate_hz=FS)
    j = to_jsonable(s)
    assert j["force"]["cv"]["value"] is None
    assert reason in j["force"]["cv"]["reason"]
    assert j["timing"]["strokes"]["value"] is None


def test_flat_pen_down_line() -> None:
    t = np.arange(2000) / FS
    s = summarize_pen(t, np.full(2000, 1.0), rate_hz=FS)
    assert s.timing["strokes"].value == 1
    assert s.force["cv"].value == 0.0
    assert s.tremor["share_4_12"].value is None
    assert "no force variation" in (s.tremor["share_4_12"].reason or "")


def test_nan_samples_are_dropped_and_counted() -> None:
    t, tip = modulated(20.0)
    holed = tip.copy()
    gaps = np.random.default_rng(3).choice(t.shape[0], 80, replace=False)
    holed[gaps] = np.nan
    s = summarize_pen(t, holed, rate_hz=FS)
    assert s.quality["dropped_samples"] == 80
    clean = summarize_pen(t, tip, rate_hz=FS)
    assert s.force["cv"].value == pytest.approx(clean.force["cv"].value, rel=0.01)
    assert s.force["mean"].value == pytest.approx(2.0, abs=0.01)


def test_saturated_tip_makes_force_metrics_absent() -> None:
    t, tip = modulated(10.0)
    clipped = np.minimum(tip, 2.2)
    s = summarize_pen(t, clipped, rate_hz=FS, saturated=clipped >= 2.2)
    assert s.force["mean"].value is None
    assert "saturated" in (s.force["mean"].reason or "")
    assert s.force["cv"].value is None
    assert s.timing["on_paper_s"].value == pytest.approx(10.0)
    assert s.quality["saturated_samples"] == int(np.count_nonzero(clipped >= 2.2))


def test_sampling_rate_too_low() -> None:
    t = np.arange(800) / 80.0
    tip = 2.0 + 0.4 * np.sin(2 * np.pi * 2.0 * t)
    s = summarize_pen(t, tip, rate_hz=80.0)
    assert s.force["cv"].value is None
    assert s.force["cv"].reason == "needs ≥100 Hz sampling, recording is 80 Hz"
    assert s.tremor["share_8_12"].reason == "needs ≥100 Hz sampling, recording is 80 Hz"


def test_no_long_segment_means_no_tremor() -> None:
    t, tip = strokes_signal(30, lambda s: 1.5)
    s = summarize_pen(t, tip, rate_hz=FS)
    assert s.tremor["share_4_12"].value is None
    assert "2 s" in (s.tremor["share_4_12"].reason or "")


def test_every_metric_carries_a_unit_and_absent_ones_a_reason() -> None:
    t, tip = strokes_signal(10, lambda s: 1.5)

    def walk(o: Any) -> None:
        if isinstance(o, dict) and "value" in o and "unit" in o:
            assert o["unit"]
            assert o["value"] is not None or o.get("reason")
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(to_jsonable(summarize_pen(t, tip, rate_hz=FS)))
    walk(to_jsonable(summarize_pen(t[:1], tip[:1], rate_hz=FS)))
