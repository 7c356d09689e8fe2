"""Building blocks of the metrics: results, statistics, filters, pen-down segmentation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finemotor.metrics.filters import CausalFilter, lowpass_sos, zero_lag
from finemotor.metrics.hysteresis import hysteresis, transitions
from finemotor.metrics.pendown import PenDownSegmenter
from finemotor.metrics.results import KGF_N, Metric, absent, maybe, present, to_jsonable
from finemotor.metrics.stats import Moments, cv_percent, detrend_linear, slope


def test_metric_json_carries_unit_reason_and_kgf() -> None:
    assert present(2.0, "N").to_json() == {"value": 2.0, "unit": "N"}
    assert present(3, "count").to_json() == {"value": 3, "unit": "count"}
    a = absent("N/s", "needs ≥500 Hz sampling, recording is 320 Hz").to_json()
    assert a == {
        "value": None,
        "unit": "N/s",
        "reason": "needs ≥500 Hz sampling, recording is 320 Hz",
    }
    k = Metric(KGF_N * 20, "N", display_unit="kgf").to_json()
    assert k["display"] == {"value": pytest.approx(20.0), "unit": "kgf"}
    assert not present(math.nan, "N").present
    assert maybe(None, "s", "why").reason == "why"
    json.dumps(to_jsonable({"a": [present(1.0, "N")], "b": (absent("%", "x"),)}))


def _split(x: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    return np.split(x, sorted(set(min(c, x.shape[0]) for c in cuts)))


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-1e3, 1e3), min_size=0, max_size=3000),
    cuts=st.lists(st.integers(0, 3000), max_size=20),
)
def test_moments_do_not_depend_on_block_boundaries(values: list[float], cuts: list[int]) -> None:
    x = np.array(values, dtype=np.float64)
    whole, parts = Moments(chunk=256), Moments(chunk=256)
    whole.add(x)
    for p in _split(x, cuts):
        parts.add(p)
    assert (whole.n, whole.mean(), whole.sd()) == (parts.n, parts.mean(), parts.sd())
    if x.shape[0] >= 2:
        assert whole.mean() == pytest.approx(float(np.mean(x)), abs=1e-9)
        assert whole.sd() == pytest.approx(float(np.std(x, ddof=1)), rel=1e-7, abs=1e-7)


def test_moments_edge_cases() -> None:
    m = Moments()
    assert m.mean() is None and m.sd() is None and m.cv() is None
    m.add_one(5.0)
    assert m.mean() == 5.0 and m.sd() is None
    m.add_one(5.0)
    assert m.sd() == 0.0 and m.cv() == 0.0
    neg = Moments()
    neg.add(np.array([-1.0, -2.0]))
    assert neg.cv() is None  # undefined for a non-positive mean


def test_cv_slope_detrend() -> None:
    assert cv_percent(np.array([1.0])) is None
    assert cv_percent(np.array([2.0, 4.0])) == pytest.approx(100 * np.std([2, 4], ddof=1) / 3)
    x = np.arange(10.0)
    assert slope(x, 3 * x + 1) == pytest.approx(3.0)
    assert slope(np.ones(3), x[:3]) is None
    np.testing.assert_allclose(detrend_linear(x, 3 * x + 1), 0.0, atol=1e-12)


def test_causal_filter_carries_state_exactly() -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal(5000).cumsum()
    sos = lowpass_sos(15.0, 320.0)
    one = CausalFilter(sos).process(x)
    f = CausalFilter(sos)
    many = np.concatenate([f.process(p) for p in np.array_split(x, [1, 7, 300, 301, 4999])])
    assert np.array_equal(one, many)
    assert f.last == one[-1]


def test_zero_lag_filter_has_no_lag_and_causal_one_does() -> None:
    fs = 200.0
    t = np.arange(2000) / fs
    x = np.sin(2 * np.pi * 2.0 * t)
    sos = lowpass_sos(10.0, fs)
    y = zero_lag(sos, x)
    mid = slice(200, 1800)
    assert np.max(np.abs(y[mid] - x[mid])) < 0.01
    c = CausalFilter(sos).process(x)
    lag = np.argmax(np.correlate(c[mid], x[mid], "full")) - (1600 - 1)
    assert lag > 0
    assert zero_lag(sos, np.array([1.0, 2.0])).tolist() == [1.0, 2.0]
    assert lowpass_sos(50.0, 40.0).shape[1] == 6  # cut-off clamped below Nyquist


def test_hysteresis_and_transitions() -> None:
    x = np.array([0.0, 0.2, 0.1, 0.09, 0.05, 0.1, 0.2])
    s = hysteresis(x, 0.15, 0.08, False)
    assert s.tolist() == [False, True, True, True, False, False, True]
    assert transitions(s, False).tolist() == [1, 4, 6]
    assert hysteresis(np.array([0.1]), 0.15, 0.08, True).tolist() == [True]
    assert hysteresis(np.array([]), 0.15, 0.08, True).shape == (0,)


def _segment(t: np.ndarray, x: np.ndarray, cuts: list[int]) -> list[list[float]]:
    seg = PenDownSegmenter(0.15, 0.08, 0.020, 0.030)
    out: list[list[float]] = []
    for tp, xp in zip(_split(t, cuts), _split(x, cuts), strict=True):
        seg.push(tp, xp)
        out += [s for s in seg.strokes if s not in out]
    seg.finish(float(t[-1]) + 0.005)
    out += [s for s in seg.strokes if s not in out]
    return [list(s) for s in out]


def test_pen_down_rules() -> None:
    fs = 200.0
    t = np.arange(200) / fs  # 5 ms samples
    x = np.zeros(200)
    x[10:30] = 1.0  # 100 ms stroke
    x[33:40] = 1.0  # 15 ms lift at 150 ms: bridged
    x[60:63] = 1.0  # 15 ms stroke after a 100 ms lift: dropped (< 20 ms)
    x[80:85] = 1.0  # 25 ms stroke: kept
    x[85:90] = 0.1  # between off and on: still down
    x[150:] = 1.0  # down at the end of the recording
    strokes = _segment(t, x, [])
    flat = [v for s in strokes for v in s]
    assert flat == pytest.approx([0.05, 0.2, 0.4, 0.45, 0.75, 1.0])
    for cuts in ([1], [31, 32, 33], [61, 62, 150, 151], list(range(0, 200, 3))):
        assert _segment(t, x, cuts) == strokes


def test_pen_down_labels_become_final_within_the_delay() -> None:
    seg = PenDownSegmenter(0.15, 0.08, 0.020, 0.030)
    t = np.arange(100) / 200.0
    x = np.where((t >= 0.1) & (t < 0.3), 1.0, 0.0)
    seg.push(t[:22], x[:22])  # 10 ms into the stroke: not yet a stroke
    assert seg.final_before == pytest.approx(0.1)
    seg.push(t[22:26], x[22:26])  # 25 ms in: confirmed
    assert seg.final_before == math.inf and seg.strokes == [[0.1, math.inf]]
    seg.push(t[26:62], x[26:62])  # lifted at 0.3 s, 5 ms ago
    assert seg.final_before == pytest.approx(0.3)
    seg.push(t[62:], x[62:])
    assert len(seg.strokes) == 1
    assert seg.strokes[0] == pytest.approx([0.1, 0.3])
