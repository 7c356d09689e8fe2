"""Properties: CV is scale-free, metrics do not depend on the clock's origin, units convert."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finemotor.calibration import ChannelCalibration, DeviceCalibration
from finemotor.metrics import KGF_N, Metric, summarize_block, summarize_grip, summarize_pen
from finemotor.metrics import to_jsonable as js
from finemotor.metrics.stats import Moments
from finemotor.samples import SampleBlock

PEN_FS = 200.0
GRIP_FS = 320.0
FAST = settings(max_examples=25, deadline=None)


def close(a: Any, b: Any, rel: float = 1e-9, abs_: float = 1e-9, path: str = "") -> None:
    """Assert two JSON trees are equal, floats within tolerance."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            close(a[k], b[k], rel, abs_, f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            close(x, y, rel, abs_, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=rel, abs=abs_), path
    else:
        assert a == b, path


def pen_signal(seed: int, seconds: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    """Strokes of random length and level, each modulated, with a long 3 s segment."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * PEN_FS)) / PEN_FS
    tip = np.zeros_like(t)
    pos = 0.2
    while pos < seconds - 0.5:
        dur = 3.0 if pos < 0.5 else rng.uniform(0.1, 0.5)
        level = rng.uniform(1.0, 2.5)
        inside = (t >= pos) & (t < pos + dur)
        tip[inside] = level * (1 + 0.2 * np.sin(2 * np.pi * rng.uniform(2, 9) * (t[inside] - pos)))
        pos += dur + rng.uniform(0.1, 0.4)
    return t, tip


def grip_signal(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(round(50 * GRIP_FS)) / GRIP_FS
    f = np.zeros_like(t)
    for k in range(7):
        x = t - (2.0 + 6.5 * k)
        shape = np.clip(np.minimum(x / rng.uniform(0.3, 0.8), (3.5 - x) / 0.3), 0, 1)
        f += rng.uniform(80, 200) * (0.5 - 0.5 * np.cos(np.pi * shape))
    return t, f


UNIT_FREE_PEN = (
    ("force", "cv"),
    ("force", "within_stroke_cv"),
    ("force", "between_stroke_cv"),
    ("force", "fluidity"),
    ("timing", "in_air_ratio"),
    ("timing", "on_paper_s"),
    ("timing", "strokes"),
    ("tremor", "share_4_12"),
    ("tremor", "share_8_12"),
    ("tremor", "peak_hz_4_12"),
)


@FAST
@given(values=st.lists(st.floats(0.01, 1e3), min_size=2, max_size=200), k=st.floats(1e-3, 1e4))
def test_cv_of_moments_is_scale_invariant(values: list[float], k: float) -> None:
    a, b = Moments(), Moments()
    x = np.array(values)
    a.add(x)
    b.add(k * x)
    assert b.cv() == pytest.approx(a.cv(), rel=1e-6, abs=1e-9)


@FAST
@given(seed=st.integers(0, 10_000), k=st.floats(0.01, 1e4))
def test_pen_unit_free_metrics_are_scale_invariant(seed: int, k: float) -> None:
    t, tip = pen_signal(seed)
    a = summarize_pen(t, tip, rate_hz=PEN_FS, unit="raw")
    b = summarize_pen(t, k * tip, rate_hz=PEN_FS, unit="raw")
    for section, name in UNIT_FREE_PEN:
        ma: Metric = getattr(a, section)[name]
        mb: Metric = getattr(b, section)[name]
        assert (ma.value is None) == (mb.value is None)
        if ma.value is not None:
            assert mb.value == pytest.approx(ma.value, rel=1e-6, abs=1e-9), name
    assert a.force["cv"].value is not None


@FAST
@given(seed=st.integers(0, 10_000), k=st.floats(0.01, 1e4))
def test_grip_unit_free_metrics_are_scale_invariant(seed: int, k: float) -> None:
    t, f = grip_signal(seed)
    a = summarize_grip(t, f, rate_hz=GRIP_FS, unit="raw")
    b = summarize_grip(t, k * f, rate_hz=GRIP_FS, unit="raw")
    ha, hb = a.hands["unspecified"], b.hands["unspecified"]
    for name in ("cv", "fatigue_index", "decay_slope"):
        assert hb[name].value == pytest.approx(ha[name].value, rel=1e-6, abs=1e-9)
    assert [x.time_to_peak_s.value for x in a.trials] == pytest.approx(
        [x.time_to_peak_s.value for x in b.trials], abs=1e-9
    )


@FAST
@given(seed=st.integers(0, 10_000), shift=st.floats(-1e4, 1e5))
def test_pen_metrics_do_not_depend_on_the_clock_origin(seed: int, shift: float) -> None:
    t, tip = pen_signal(seed)
    a = js(summarize_pen(t, tip, rate_hz=PEN_FS))
    b = js(summarize_pen(t + shift, tip, rate_hz=PEN_FS))
    close(a, b, rel=1e-6, abs_=1e-4)


@FAST
@given(seed=st.integers(0, 10_000), shift=st.floats(-1e4, 1e5))
def test_grip_metrics_do_not_depend_on_the_clock_origin(seed: int, shift: float) -> None:
    t, f = grip_signal(seed)
    a = js(summarize_grip(t, f, rate_hz=GRIP_FS))
    b = js(summarize_grip(t + shift, f, rate_hz=GRIP_FS))
    close(a, b, rel=1e-6, abs_=1e-4)


@FAST
@given(kgf=st.floats(0.5, 90.0))
def test_kgf_is_display_only(kgf: float) -> None:
    m = Metric(kgf * KGF_N, "N", display_unit="kgf").to_json()
    assert m["unit"] == "N"
    assert m["display"]["value"] == pytest.approx(kgf, rel=1e-12)


@FAST
@given(seed=st.integers(0, 10_000), gain=st.floats(1e-4, 1e-2), zero=st.integers(-50_000, 50_000))
def test_counts_through_a_linear_calibration_equal_newtons(
    seed: int, gain: float, zero: int
) -> None:
    t, f = grip_signal(seed)
    counts = (zero + np.round(f / gain)).astype(np.int32)
    cal = DeviceCalibration(1, (ChannelCalibration("linear", zero, (gain,)),))
    block = SampleBlock("grip", ("force",), np.arange(t.shape[0]), t, counts[:, None])
    from_counts = summarize_block(block, cal, GRIP_FS)
    newtons = summarize_grip(t, gain * (counts - zero), rate_hz=GRIP_FS)
    assert js(from_counts) == js(newtons)
    peaks = [x.peak.value for x in from_counts.trials]
    assert peaks == pytest.approx(
        [x.peak.value for x in summarize_grip(t, f, rate_hz=GRIP_FS).trials], rel=1e-3
    )
