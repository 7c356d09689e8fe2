"""Calibration models: counts to newtons, validation, clamping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finemotor.calibration import ChannelCalibration, DeviceCalibration
from finemotor.errors import CalibrationError


def test_linear_uses_zero_and_gain() -> None:
    cal = ChannelCalibration("linear", zero=1000, coeffs=(0.01,))
    out = cal.to_newtons(np.array([1000, 1100, 900], dtype=np.int32))
    np.testing.assert_allclose(out, [0.0, 1.0, -1.0])
    assert out.dtype == np.float64
    assert cal.calibrated


def test_poly_sums_powers_without_constant() -> None:
    cal = ChannelCalibration("poly", zero=10, coeffs=(2.0, 0.5, 0.25))
    x = np.array([0, 1, 2, -1], dtype=np.float64)
    expect = 2.0 * x + 0.5 * x**2 + 0.25 * x**3
    np.testing.assert_allclose(cal.to_newtons(x.astype(np.int32) + 10), expect)


def test_table_interpolates_and_reports_clamping() -> None:
    cal = ChannelCalibration("table", zero=0, coeffs=(0, 0.0, 100, 1.0, 300, 5.0))
    conv = cal.convert(np.array([-50, 0, 50, 200, 300, 400], dtype=np.int32))
    np.testing.assert_allclose(conv.newtons, [0.0, 0.0, 0.5, 3.0, 5.0, 5.0])
    assert conv.out_of_range.tolist() == [True, False, False, False, False, True]
    assert conv.n_out_of_range == 2


def test_uncalibrated_refuses_newtons_but_gives_raw() -> None:
    cal = ChannelCalibration("none", zero=5)
    assert not cal.calibrated
    with pytest.raises(CalibrationError, match="uncalibrated"):
        cal.to_newtons(np.array([1, 2], dtype=np.int32))
    np.testing.assert_allclose(cal.relative(np.array([5, 7], dtype=np.int32)), [0.0, 2.0])


@pytest.mark.parametrize(
    ("model", "coeffs", "match"),
    [
        ("cubic", (1.0,), "unknown calibration model"),
        ("linear", (), "exactly one"),
        ("linear", (0.0,), "exactly one"),
        ("linear", (float("nan"),), "non-finite"),
        ("poly", (), "at least one"),
        ("poly", (1.0, float("inf")), "non-finite"),
        ("table", (0, 0.0, 10), "pairs"),
        ("table", (0, 0.0), "pairs"),
        ("table", (0, 0.0, 10, 1.0, 5, 2.0), "strictly increasing"),
        ("table", (0, 0.0, 10, 1.0, 20, 1.0), "strictly increasing"),
    ],
)
def test_validation_says_what_is_wrong(model: str, coeffs: tuple[float, ...], match: str) -> None:
    with pytest.raises(CalibrationError, match=match) as info:
        ChannelCalibration(model, zero=0, coeffs=coeffs)  # type: ignore[arg-type]
    if "unknown" not in match:
        assert "recalibrate" in str(info.value)


def test_zero_must_be_integer() -> None:
    with pytest.raises(CalibrationError, match="integer"):
        ChannelCalibration("linear", zero=1.5, coeffs=(1.0,))  # type: ignore[arg-type]


def test_device_calibration() -> None:
    dev = DeviceCalibration(
        1_700_000_000,
        (ChannelCalibration("linear", 0, (0.001,)), ChannelCalibration("none", 0)),
    )
    assert not dev.calibrated
    assert dev.channel(0).calibrated
    with pytest.raises(CalibrationError, match="no channel 2"):
        dev.channel(2)
    assert not DeviceCalibration.uncalibrated(3).calibrated
    assert len(DeviceCalibration.uncalibrated(3).channels) == 3
    with pytest.raises(CalibrationError, match=">= 0"):
        DeviceCalibration(-1, ())
    with pytest.raises(CalibrationError, match="not a ChannelCalibration"):
        DeviceCalibration(0, ("linear",))  # type: ignore[arg-type]


@given(
    gain=st.floats(1e-6, 1e3),
    zero=st.integers(-(2**23), 2**23),
    counts=st.lists(st.integers(-(2**23), 2**23), min_size=1, max_size=50),
)
def test_linear_is_linear(gain: float, zero: int, counts: list[int]) -> None:
    cal = ChannelCalibration("linear", zero, (gain,))
    c = np.array(counts, dtype=np.int64)
    np.testing.assert_allclose(cal.to_newtons(c), gain * (c - zero), rtol=1e-12)


@given(
    steps=st.lists(st.tuples(st.integers(1, 1000), st.floats(0.01, 100)), min_size=1, max_size=8),
    counts=st.lists(st.integers(-100_000, 100_000), min_size=1, max_size=50),
)
def test_table_is_monotone_and_bounded(steps: list[tuple[int, float]], counts: list[int]) -> None:
    xs = np.cumsum([0] + [s[0] for s in steps])
    ns = np.cumsum([0.0] + [s[1] for s in steps])
    coeffs = tuple(float(v) for pair in zip(xs, ns, strict=True) for v in pair)
    cal = ChannelCalibration("table", 0, coeffs)
    c = np.sort(np.array(counts, dtype=np.int64))
    conv = cal.convert(c)
    assert np.all(np.diff(conv.newtons) >= 0)
    assert np.all((conv.newtons >= ns[0]) & (conv.newtons <= ns[-1]))
    assert np.array_equal(conv.out_of_range, (c < xs[0]) | (c > xs[-1]))
