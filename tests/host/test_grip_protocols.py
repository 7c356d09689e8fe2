"""Grip trials for every protocol, on analytic squeezes with a resting offset, at 80-2000 Hz.

Each squeeze is a raised-cosine rise of known length from a resting level, so its true onset
(the rise crossing rest + 2.5% of the amplitude), its peak, its time to peak and its RFD20-80
follow in closed form. Sample times are offset from the squeeze by a fraction of a sample, so
no crossing or peak falls on a sample by construction.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from finemotor.metrics import GripContext, GripSummary, summarize_grip, to_jsonable
from finemotor.metrics.grip_trial import GripTrial, despike
from finemotor.metrics.summary import Trigger, grip_settings

RATES = (80.0, 320.0, 500.0, 2000.0)
REST_N = 2.0  # a preloaded gauge reads about 2 N at rest


def squeeze(
    t: np.ndarray,
    t0: float,
    amp: float,
    rise: float,
    hold: float = 0.0,
    fall: float | None = None,
    decline_per_s: float = 0.0,
    rest: float = REST_N,
) -> np.ndarray:
    """rest + amp x (raised-cosine rise; hold declining linearly by ``decline_per_s`` of amp
    per second; raised-cosine release)."""
    fall = rise if fall is None else fall
    x = t - t0
    up = 0.5 - 0.5 * np.cos(np.pi * np.clip(x / rise, 0.0, 1.0))
    level = 1.0 - decline_per_s * np.clip(x - rise, 0.0, hold)
    down = 0.5 + 0.5 * np.cos(np.pi * np.clip((x - rise - hold) / fall, 0.0, 1.0))
    inside = (x > 0) & (x < rise + hold + fall)
    return rest + np.where(inside, amp * np.where(x < rise, up, level * down), 0.0)


def crossing(t0: float, rise: float, fraction: float) -> float:
    """When the raised-cosine rise from t0 reaches ``fraction`` of its amplitude."""
    return t0 + rise / math.pi * math.acos(1.0 - 2.0 * fraction)


def true_rfd(amp: float, rise: float) -> float:
    return 0.6 * amp / (crossing(0.0, rise, 0.8) - crossing(0.0, rise, 0.2))


def times(fs: float, start: float, seconds: float) -> np.ndarray:
    return start + (np.arange(round(seconds * fs)) + 0.37) / fs


def run(
    t: np.ndarray,
    f: np.ndarray,
    fs: float,
    task: str,
    trigger: Trigger | None = None,
    target: float | None = None,
) -> GripSummary:
    cfg = grip_settings(f, task, trigger=trigger)
    ctx = GripContext(task=task, target=target)  # type: ignore[arg-type]
    return summarize_grip(t, f, rate_hz=fs, config=cfg, contexts=[(-math.inf, ctx)])


def check_rise(
    tr: GripTrial, t_first: float, fs: float, t0: float, amp: float, rise: float
) -> None:
    """Peak within 1%, onset and time to peak within one sample, RFD20-80 within 3%."""
    assert tr.peak.value == pytest.approx(REST_N + amp, rel=0.01)
    onset = crossing(t0, rise, 0.025)
    assert tr.onset_s.value is not None and tr.time_to_peak_s.value is not None
    assert abs(tr.onset_s.value + t_first - onset) <= 1.0 / fs
    assert abs(tr.time_to_peak_s.value - (t0 + rise - onset)) <= 1.0 / fs
    assert tr.rfd_20_80.value == pytest.approx(true_rfd(amp, rise), rel=0.03)
    assert tr.baseline.value == pytest.approx(REST_N, abs=0.01 * amp)


@pytest.mark.parametrize("fs", RATES)
def test_rapid_pinch_recorded_from_just_before_the_rise(fs: float) -> None:
    # a 0.3 s ballistic pinch, 8 N above a 2 N rest, recorded from 5 ms before the rise to
    # 20 ms after the release
    t0, amp, rise = 1.0, 8.0, 0.15
    t = times(fs, t0 - 0.005, 0.325)
    f = squeeze(t, t0, amp, rise)
    s = run(t, f, fs, "rapid")
    assert len(s.trials) == 1, s.reason
    tr = s.trials[0]
    check_rise(tr, float(t[0]), fs, t0, amp, rise)
    assert tr.peak_unfiltered.value == tr.peak.value  # rapid: measured on the samples
    assert "Hampel" in tr.definitions["signal"]
    assert tr.definitions["trigger"].startswith("relative")


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize(("lead_s", "jump_n"), [(0.03, 6.0), (0.05, 12.0), (0.08, -1.5)])
def test_rapid_pinch_after_a_single_sample_spike(fs: float, lead_s: float, jump_n: float) -> None:
    # one wild sample (a spike above the pinch's own peak, or a dip) 30-80 ms before the rise
    t0, amp, rise = 1.0, 8.0, 0.15
    t = times(fs, t0 - 0.3, 0.65)
    f = squeeze(t, t0, amp, rise)
    k = int(np.searchsorted(t, t0 - lead_s))
    f[k] += jump_n
    s = run(t, f, fs, "rapid")
    assert len(s.trials) == 1, s.reason
    check_rise(s.trials[0], float(t[0]), fs, t0, amp, rise)


@pytest.mark.parametrize("fs", (320.0, 500.0, 2000.0))
@pytest.mark.parametrize("length_s", [0.1, 0.2, 0.4])
def test_rapid_pinches_of_100_to_400_ms(fs: float, length_s: float) -> None:
    t0, amp, rise = 0.5, 10.0, length_s / 2
    t = times(fs, 0.0, 0.5 + length_s + 0.3)
    f = squeeze(t, t0, amp, rise)
    s = run(t, f, fs, "rapid")
    assert len(s.trials) == 1, s.reason
    check_rise(s.trials[0], float(t[0]), fs, t0, amp, rise)


def test_a_100_ms_pinch_at_80_hz_is_beyond_the_rate() -> None:
    # 4 samples on the rise: the rise is not resolved to 3% (8% here); documented in
    # docs/validation.md, and pinned here so a change shows
    fs, t0, amp, rise = 80.0, 0.5, 10.0, 0.05
    t = times(fs, 0.0, 1.0)
    s = run(t, squeeze(t, t0, amp, rise), fs, "rapid")
    (tr,) = s.trials
    assert tr.rfd_20_80.value is not None
    assert abs(tr.rfd_20_80.value / true_rfd(amp, rise) - 1) < 0.1


@pytest.mark.parametrize("fs", RATES)
def test_asht_maximal_trials(fs: float) -> None:
    # three 3 s maximal squeezes, 0.5 s rise, the hold fading 2%/s, 5 s apart
    amps = (150.0, 160.0, 155.0)
    t = times(fs, 0.0, 16.0)
    starts = (1.0, 6.0, 11.0)
    f = REST_N + np.sum(
        [
            squeeze(t, t0, a, 0.5, 3.0, 0.3, 0.02, rest=0.0)
            for t0, a in zip(starts, amps, strict=True)
        ],
        axis=0,
    )
    s = run(t, f, fs, "max")
    assert len(s.trials) == 3, s.reason
    for tr, t0, a in zip(s.trials, starts, amps, strict=True):
        check_rise(tr, float(t[0]), fs, t0, a, 0.5)
        assert tr.peak_unfiltered.value == pytest.approx(REST_N + a, rel=0.001)
    mean = s.hands["unspecified"]["mean_of_3"].value
    assert mean == pytest.approx(REST_N + np.mean(amps), rel=0.01)


@pytest.mark.parametrize("fs", RATES)
def test_sustained_hold(fs: float) -> None:
    # a 12 s hold over the 2 N rest whose force falls linearly by 5% of its amplitude per
    # second; FR levels are fractions of the recorded peak (the force is taken as tared, so
    # the offset is in it): rest + amp (1 - 0.05 t) = level x (rest + amp)
    t0, amp, rise = 1.0, 100.0, 0.5
    t = times(fs, 0.0, 15.0)
    f = squeeze(t, t0, amp, rise, 12.0, 0.3, 0.05)
    s = run(t, f, fs, "hold")
    (tr,) = s.trials
    assert tr.kind == "hold" and tr.hold is not None
    check_rise(tr, float(t[0]), fs, t0, amp, rise)
    for name, level in (("fr75_s", 0.75), ("fr50_s", 0.5)):
        expected = (1.0 - (level * (REST_N + amp) - REST_N) / amp) / 0.05
        assert tr.hold[name].value == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize("fs", RATES)
def test_repeated_squeezes(fs: float) -> None:
    # ten 1.5 s squeezes, 1 s apart, peaks falling by 4 N each from 120 N above the rest
    amps = [120.0 - 4.0 * k for k in range(10)]
    starts = [1.0 + 2.8 * k for k in range(10)]
    t = times(fs, 0.0, 30.0)
    f = REST_N + np.sum(
        [
            squeeze(t, t0, a, 0.3, 1.0, 0.3, 0.02, rest=0.0)
            for t0, a in zip(starts, amps, strict=True)
        ],
        axis=0,
    )
    s = run(t, f, fs, "repeated")
    assert len(s.trials) == 10, s.reason
    for tr, t0, a in zip(s.trials, starts, amps, strict=True):
        check_rise(tr, float(t[0]), fs, t0, a, 0.3)
    peaks = [REST_N + a for a in amps]
    best, last = max(peaks[:3]), float(np.mean(peaks[-3:]))
    fi = s.hands["unspecified"]["fatigue_index"].value
    assert fi == pytest.approx(100 * (best - last) / best, abs=0.5)


@pytest.mark.parametrize("fs", RATES)
def test_steadiness_at_a_target(fs: float) -> None:
    # 8 s at a 50 N target with a 1 Hz, 1 N sway: detrended CV = 100 x (1/sqrt 2)/50 %
    t0, rise, hold = 1.0, 1.0, 8.0
    t = times(fs, 0.0, 11.0)
    sway = np.where((t > t0 + rise) & (t < t0 + rise + hold), np.sin(2 * np.pi * t), 0.0)
    f = squeeze(t, t0, 48.0, rise, hold, 0.5) + sway
    s = run(t, f, fs, "steady", target=50.0)
    (tr,) = s.trials
    assert tr.steadiness is not None
    assert tr.steadiness["cv"].value == pytest.approx(100 / math.sqrt(2) / 50, rel=0.1)
    assert tr.steadiness["mean"].value == pytest.approx(50.0, rel=0.01)
    assert tr.steadiness["target_error"].value == pytest.approx(0.0, abs=1.0)


@pytest.mark.parametrize("fs", RATES)
def test_childs_pinch_of_2_newtons(fs: float) -> None:
    # three 2 s key pinches peaking 2 N above a 0.3 N preload: below any absolute trigger
    # meant for grip, found with the pinch task's relative trigger
    t = times(fs, 0.0, 12.0)
    starts = (1.0, 5.0, 9.0)
    f = 0.3 + np.sum([squeeze(t, t0, 2.0, 0.3, 1.5, 0.3, rest=0.0) for t0 in starts], axis=0)
    assert run(t, f, fs, "max").trials == []  # the 5 N grip trigger never fires
    s = run(t, f, fs, "pinch")
    assert len(s.trials) == 3, s.reason
    for tr, t0 in zip(s.trials, starts, strict=True):
        assert tr.onset_s.value is not None
        assert abs(tr.onset_s.value + t[0] - crossing(t0, 0.3, 0.025)) <= 1.0 / fs
        assert tr.peak.value == pytest.approx(2.3, rel=0.01)
        assert tr.baseline.value == pytest.approx(0.3, abs=0.02)
        assert tr.rfd_20_80.value == pytest.approx(true_rfd(2.0, 0.3), rel=0.03)


def test_given_triggers_absolute_and_relative() -> None:
    fs = 500.0
    t = times(fs, 0.0, 4.0)
    f = squeeze(t, 1.0, 3.0, 0.3, 1.0, 0.3)  # 3 N above a 2 N rest
    s = run(t, f, fs, "auto", trigger=Trigger(3.0, 2.5, relative=False))
    (tr,) = s.trials
    assert tr.definitions["trigger"] == "absolute: on at 3 and off at 2.5 N (given)"
    assert to_jsonable(s.quality["trigger_on"]) == {"value": 3.0, "unit": "N"}
    rel = run(t, f, fs, "auto", trigger=Trigger(0.5, 0.25, relative=True))
    (tr2,) = rel.trials
    assert tr2.peak.value == pytest.approx(tr.peak.value)
    on = rel.quality["trigger_on"]
    assert getattr(on, "value", None) == pytest.approx(2.0 + 0.5 * 3.0, rel=0.01)


def test_despike_keeps_smooth_shapes_and_drops_lone_samples() -> None:
    t = np.linspace(0.0, 1.0, 201)
    smooth = squeeze(t, 0.2, 10.0, 0.1)
    np.testing.assert_array_equal(despike(smooth), smooth)
    spiky = smooth.copy()
    spiky[10] += 5.0
    spiky[150] -= 3.0
    np.testing.assert_array_equal(despike(spiky), smooth)
