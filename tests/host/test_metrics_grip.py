"""Grip metrics on analytic squeezes with known answers, and on edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from finemotor.metrics import KGF_N, GripConfig, GripContext, summarize_grip, to_jsonable
from finemotor.metrics.grip_trial import GripTrial

FS = 320.0


def trapezoid(
    t: np.ndarray, t0: float, rise: float, hold: float, fall: float, peak: float
) -> np.ndarray:
    x = t - t0
    return np.clip(np.minimum(x / rise, (rise + hold + fall - x) / fall), 0.0, 1.0) * peak


def smooth(
    t: np.ndarray, t0: float, peak: float, rise: float = 0.4, hold: float = 1.0, fall: float = 0.3
) -> np.ndarray:
    """Raised-cosine rise, flat hold, raised-cosine release."""
    x = t - t0
    up = 0.5 - 0.5 * np.cos(np.pi * np.clip(x / rise, 0, 1))
    down = 0.5 + 0.5 * np.cos(np.pi * np.clip((x - rise - hold) / fall, 0, 1))
    return np.where((x > 0) & (x < rise + hold + fall), peak * np.minimum(up, down), 0.0)


def only(trials: list[GripTrial]) -> GripTrial:
    assert len(trials) == 1
    return trials[0]


def test_trapezoid_known_peak_and_slope() -> None:
    t = np.arange(round(8 * FS)) / FS
    f = trapezoid(t, 2.0, 0.5, 2.0, 0.3, 200.0)  # 400 N/s rise
    s = summarize_grip(t, f, rate_hz=FS)
    tr = only(s.trials)
    assert tr.peak.value == pytest.approx(200.0, rel=0.005)
    assert tr.peak.display_unit == "kgf"
    assert to_jsonable(tr.peak)["display"]["value"] == pytest.approx(200.0 / KGF_N, rel=0.005)
    assert tr.rfd_20_80.value == pytest.approx(400.0, rel=0.005)
    assert tr.rfd_20_80.unit == "N/s"
    assert tr.onset_s.value == pytest.approx(2.0 + 0.025 * 200 / 400, abs=0.01)
    assert tr.offset_s.value == pytest.approx(
        2.0 + 0.5 + 2.0 + 0.3 - 0.025 * 200 / (200 / 0.3), abs=0.01
    )
    assert 0.45 <= (tr.time_to_peak_s.value or 0) <= 2.55
    assert tr.kind == "squeeze" and tr.hold is None and tr.flags == ()
    for name in ("0_50ms", "0_100ms", "0_200ms"):
        assert tr.rfd[name].value is None
        assert tr.rfd[name].reason == "needs ≥500 Hz sampling, recording is 320 Hz"


def test_rfd_windows_at_1khz() -> None:
    fs = 1000.0
    t = np.arange(round(6 * fs)) / fs
    f = trapezoid(t, 1.0, 0.5, 1.0, 0.3, 200.0)
    tr = only(summarize_grip(t, f, rate_hz=fs).trials)
    for name in ("0_50ms", "0_100ms", "0_200ms"):
        assert tr.rfd[name].value == pytest.approx(400.0, rel=0.02)


def test_decay_known_fr50_and_fatigue_index() -> None:
    tau = 10.0 / math.log(2.0)  # FR50 = 10 s
    t = np.arange(round(40 * FS)) / FS
    x = t - 2.0
    rise = 200.0 * (0.5 - 0.5 * np.cos(np.pi * np.clip(x / 0.5, 0, 1)))
    held = 200.0 * np.exp(-(x - 0.5) / tau)
    end = 200.0 * np.exp(-30.0 / tau)
    release = end * (0.5 + 0.5 * np.cos(np.pi * np.clip((x - 30.5) / 0.3, 0, 1)))
    f = np.where(x <= 0, 0.0, np.where(x < 0.5, rise, np.where(x < 30.5, held, release)))
    f = np.where(x > 30.8, 0.0, f)
    for ctx in (GripContext(task="hold", hold_s=30.5), GripContext()):
        tr = only(summarize_grip(t, f, rate_hz=FS, contexts=[(0.0, ctx)]).trials)
        assert tr.kind == "hold" and tr.hold is not None
        assert tr.peak.value == pytest.approx(200.0, rel=0.002)
        assert tr.hold["fr50_s"].value == pytest.approx(10.0, abs=0.05)
        assert tr.hold["fr75_s"].value == pytest.approx(tau * math.log(4 / 3), abs=0.05)
        assert tr.hold["fr25_s"].value == pytest.approx(20.0, abs=0.05)
        tail = 200 * tau * (math.exp(-27 / tau) - math.exp(-30 / tau)) / 3.0
        assert tr.hold["static_fatigue_index"].value == pytest.approx(
            100 * (1 - tail / 200), abs=0.5
        )
        sustained = tau * (1 - math.exp(-30 / tau)) / 30
        assert tr.hold["sustained_ratio"].value == pytest.approx(sustained, abs=0.01)
        assert tr.hold["hold_s"].value == pytest.approx(30.5, abs=0.15)


def test_fr_absent_when_force_never_falls() -> None:
    t = np.arange(round(15 * FS)) / FS
    decline = 1.0 - 0.001 * np.clip(t - 1.4, 0.0, None)  # 1% over the 10 s hold
    f = smooth(t, 1.0, 150.0, hold=10.0) * decline
    tr = only(summarize_grip(t, f, rate_hz=FS).trials)
    assert tr.kind == "hold" and tr.hold is not None
    assert tr.hold["fr50_s"].value is None
    assert "stayed above 50%" in (tr.hold["fr50_s"].reason or "")
    assert tr.hold["static_fatigue_index"].value == pytest.approx(0.85, abs=0.1)


def repeated_signal(
    peaks: list[float], start: float = 2.0, every: float = 4.0
) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(round((start + every * len(peaks) + 2) * FS)) / FS
    f = np.zeros_like(t)
    for k, p in enumerate(peaks):
        f += smooth(t, start + every * k, p)
    return t, f


def test_repeated_squeezes_fatigue_and_decay() -> None:
    peaks = [200.0 - 5.0 * k for k in range(10)]
    t, f = repeated_signal(peaks)
    s = summarize_grip(t, f, rate_hz=FS, contexts=[(0.0, GripContext("right", "repeated"))])
    assert [tr.peak.value for tr in s.trials] == pytest.approx(peaks, rel=1e-3)
    right = s.hands["right"]
    assert right["squeezes"].value == 10
    assert right["fatigue_index"].value == pytest.approx(20.0, abs=0.1)
    assert right["decay_slope"].value == pytest.approx(-2.5, abs=0.01)
    assert right["decay_slope"].unit == "%/squeeze"
    assert right["mean_of_3"].value is None  # repeated squeezes are not ASHT trials


def test_asht_mean_and_max_of_three_per_hand() -> None:
    t, f = repeated_signal([200.0, 195.0, 190.0, 120.0, 130.0, 125.0], every=5.0)
    contexts = [(0.0, GripContext("right", "max")), (16.5, GripContext("left", "max"))]
    s = summarize_grip(t, f, rate_hz=FS, contexts=contexts)
    right, left = s.hands["right"], s.hands["left"]
    assert right["mean_of_3"].value == pytest.approx(195.0, rel=1e-3)
    assert right["max_of_3"].value == pytest.approx(200.0, rel=1e-3)
    assert right["cv"].value == pytest.approx(100 * 5 / 195, rel=0.01)
    j = to_jsonable(right["mean_of_3"])
    assert j["unit"] == "N" and j["display"]["unit"] == "kgf"
    assert j["display"]["value"] == pytest.approx(195.0 / KGF_N, rel=1e-3)
    assert left["mean_of_3"].value == pytest.approx(125.0, rel=1e-3)
    assert "fatigue_index" in right and right["fatigue_index"].value is None
    assert right["norm"].value is None and "ships none" in (right["norm"].reason or "")


def test_fewer_than_three_trials() -> None:
    t, f = repeated_signal([200.0, 190.0])
    hand = summarize_grip(t, f, rate_hz=FS).hands["unspecified"]
    assert hand["mean_of_3"].value is None
    assert "needs 3 trials" in (hand["mean_of_3"].reason or "")


def test_steadiness_cv_at_a_target() -> None:
    t = np.arange(round(16 * FS)) / FS
    x = t - 2.0
    hold = (x >= 1.0) & (x < 11.0)
    f = np.where(x < 0, 0.0, 100.0 * (0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0, 1))))
    f = np.where(hold, 100.0 + 0.5 * (x - 1.0) + 2.0 * np.sin(2 * np.pi * 2.0 * (x - 1.0)), f)
    f = np.where(
        x >= 11.0, 105.0 * (0.5 + 0.5 * np.cos(np.pi * np.clip((x - 11.0) / 0.3, 0, 1))), f
    )
    ctx = GripContext("right", "steady", target=100.0)
    tr = only(summarize_grip(t, f, rate_hz=FS, contexts=[(0.0, ctx)]).trials)
    assert tr.steadiness is not None
    mean = tr.steadiness["mean"].value
    assert mean == pytest.approx(102.5, abs=0.3)
    assert tr.steadiness["cv"].value == pytest.approx(100 * 2.0 / math.sqrt(2) / mean, rel=0.03)
    assert tr.steadiness["target_error"].value == pytest.approx(100 * (mean - 100) / 100, rel=1e-6)


def test_pinch_before_and_after_writing() -> None:
    t, f = repeated_signal([60.0, 62.0, 55.0], every=5.0)
    contexts = [
        (0.0, GripContext("right", "pinch_pre")),
        (11.5, GripContext("right", "pinch_post")),
    ]
    s = summarize_grip(t, f, rate_hz=FS, contexts=contexts)
    assert s.pinch["before"].value == pytest.approx(62.0, rel=1e-3)
    assert s.pinch["after"].value == pytest.approx(55.0, rel=1e-3)
    assert s.pinch["change"].value == pytest.approx(100 * (55 - 62) / 62, rel=1e-2)
    none = summarize_grip(t, f, rate_hz=FS)
    assert none.pinch["change"].value is None


def test_saturated_sensor_has_no_peak() -> None:
    t = np.arange(round(8 * FS)) / FS
    f = np.minimum(smooth(t, 2.0, 300.0), 250.0)
    tr = only(summarize_grip(t, f, rate_hz=FS, saturated=f >= 250.0).trials)
    assert "saturated" in tr.flags
    assert tr.peak.value is None and "saturated" in (tr.peak.reason or "")
    assert tr.onset_s.value is not None


def test_short_dip_is_one_trial_and_short_bump_is_none() -> None:
    t = np.arange(round(10 * FS)) / FS
    f = smooth(t, 1.0, 100.0, hold=1.0) + smooth(t, 2.5, 100.0, rise=0.05, hold=1.0)
    f = np.where((t > 2.35) & (t < 2.45), 1.0, f)  # a 0.1 s dip below the trigger
    f += smooth(t, 7.0, 50.0, rise=0.05, hold=0.05, fall=0.05)  # a 0.15 s bump
    s = summarize_grip(t, f, rate_hz=FS)
    assert len(s.trials) == 1


def test_trial_cut_at_max_length_and_truncated_end() -> None:
    t = np.arange(round(30 * FS)) / FS
    f = smooth(t, 1.0, 100.0, hold=60.0)
    s = summarize_grip(t, f, rate_hz=FS, config=GripConfig(max_trial_s=10.0))
    assert len(s.trials) == 1
    assert "cut_at_max_length" in s.trials[0].flags
    s2 = summarize_grip(t, f, rate_hz=FS)
    tr = only(s2.trials)
    assert "truncated_end" in tr.flags
    assert tr.offset_s.value is None and "ended before" in (tr.offset_s.reason or "")


def test_raw_units_keep_unit_free_metrics() -> None:
    t, f = repeated_signal([200.0 - 5.0 * k for k in range(10)])
    newton = summarize_grip(t, f, rate_hz=FS)
    raw = summarize_grip(t, f * 37.0, rate_hz=FS, unit="raw")
    assert len(raw.trials) == len(newton.trials) == 10
    hr, hn = raw.hands["unspecified"], newton.hands["unspecified"]
    assert hr["mean_of_3"].value is None and "uncalibrated" in (hr["mean_of_3"].reason or "")
    assert hr["cv"].value == pytest.approx(hn["cv"].value, rel=1e-6)
    assert hr["fatigue_index"].value == pytest.approx(hn["fatigue_index"].value, rel=1e-6)
    assert raw.trials[0].peak.value is None
    assert raw.trials[0].time_to_peak_s.value == pytest.approx(
        newton.trials[0].time_to_peak_s.value, abs=2 / FS
    )


@pytest.mark.parametrize(
    ("n", "value", "reason"),
    [
        (0, 0.0, "no samples"),
        (1, 50.0, "the only squeeze started before the recording"),
        (3200, 0.0, "no squeeze detected (force never reached 5 N)"),
        (3200, 40.0, "the only squeeze started before the recording"),
    ],
)
def test_empty_single_and_flat(n: int, value: float, reason: str) -> None:
    t = np.arange(n) / FS
    s = summarize_grip(t, np.full(n, value), rate_hz=FS)
    assert s.trials == [] and s.hands == {}
    assert reason in (s.reason or "")


def test_nan_samples_are_gaps() -> None:
    t, f = repeated_signal([200.0, 195.0, 190.0])
    holed = f.copy()
    holed[np.random.default_rng(1).choice(f.shape[0], 50, replace=False)] = np.nan
    s = summarize_grip(t, holed, rate_hz=FS)
    assert s.quality["dropped_samples"] == 50
    assert [tr.peak.value for tr in s.trials] == pytest.approx([200.0, 195.0, 190.0], rel=1e-3)
    allnan = summarize_grip(t, np.full_like(f, np.nan), rate_hz=FS)
    assert allnan.reason == "no samples"


def test_sampling_rate_too_low() -> None:
    fs = 60.0
    t = np.arange(round(10 * fs)) / fs
    s = summarize_grip(t, smooth(t, 2.0, 200.0), rate_hz=fs)
    assert s.trials == []
    assert s.reason == "needs ≥80 Hz sampling, recording is 60 Hz"
