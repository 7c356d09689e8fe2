"""The verification maths and the fits, against examples worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from finemotor.calibration.fit import fit_points
from finemotor.calibration.iso7500 import resolution_n, verify
from finemotor.errors import CalibrationError


def test_verify_hand_example_class_2() -> None:
    # 100 N: mean 101 -> q = +1 %; b = (102 - 100)/100 = 2 %; v = (103 - 102)/100 = 1 %.
    # 200 N: mean 200 -> q = 0; b = (201 - 199)/200 = 1 %; v = (202 - 200)/200 = 1 %.
    # f0 = 0.05/200 = 0.025 %; a = 0.1/100 = 0.1 % and 0.05 %. b = 2 % keeps class 1 out.
    v = verify([100, 200], [[101, 199], [100, 201], [102, 200]], [103, 202], 0.05, 200, 0.1)
    p100, p200 = v.points
    assert p100.q == pytest.approx(1.0) and p100.b == pytest.approx(2.0)
    assert p100.v == pytest.approx(1.0) and p100.a == pytest.approx(0.1)
    assert p200.q == pytest.approx(0.0) and p200.b == pytest.approx(1.0)
    assert p200.v == pytest.approx(1.0) and p200.a == pytest.approx(0.05)
    assert v.f0 == pytest.approx(0.025)
    assert (v.q_max, v.b_max, v.v_max) == pytest.approx((1.0, 2.0, 1.0))
    assert v.klass == "2" and v.passed


def test_verify_hand_example_class_1_and_none() -> None:
    # 50 N: mean 50.3 -> q = 0.6 %, b = 0.4 %, v = (50.8 - 50.4)/50 = 0.8 %.
    ok = verify([50], [[50.2], [50.3], [50.4]], [50.8], 0.0, 100, 0.02)
    assert ok.points[0].q == pytest.approx(0.6)
    assert ok.points[0].b == pytest.approx(0.4)
    assert ok.points[0].v == pytest.approx(0.8)
    assert ok.klass == "1"
    # q = 5 %: no class, and the report says which error kept class 3 out.
    bad = verify([10], [[10.5], [10.5], [10.5]], None, 0.0, 10, 0.001)
    assert bad.klass is None and not bad.passed and bad.failed == ("q",)
    # zero error alone: 0.5 N left on a 100 N range is f0 = 0.5 % > 0.3 %
    assert verify([50], [[50], [50], [50]], None, 0.5, 100, 0.01).failed == ("f0",)


def test_resolution_with_fluctuation() -> None:
    assert resolution_n(1.0) == 1.0
    assert resolution_n(1.0, 0.5) == 1.0
    assert resolution_n(1.0, 4.0) == 3.0  # half the range of fluctuation plus one increment


def test_verify_refuses_mismatched_series() -> None:
    with pytest.raises(CalibrationError, match="one indication per reference force"):
        verify([1, 2], [[1.0], [1.0]], None, 0, 2, 0.01)
    with pytest.raises(CalibrationError, match="decreasing"):
        verify([1, 2], [[1, 2]], [1.0], 0, 2, 0.01)


def test_linear_fit_hand_example() -> None:
    # Through the origin: c0 = sum(x f)/sum(x^2) = (10·1000 + 21·2000)/(1000² + 2000²) = 0.0104
    fit = fit_points([0, 10, 21], [100, 1100, 2100], "linear")
    assert fit.zero == 100.0
    assert fit.coeffs == pytest.approx((0.0104,))
    assert fit.residuals_n == pytest.approx([0.0, 0.4, -0.2])
    ch = fit.channel()
    assert ch.model == "linear" and ch.zero == 100
    assert ch.to_newtons([1100]) == pytest.approx([10.4])


def test_poly_fit_recovers_exact_polynomial() -> None:
    x = np.array([100.0, 200.0, 300.0, 400.0])
    f = 0.01 * x + 1e-6 * x**2
    fit = fit_points(f, x, "poly2", zero=0.0)
    assert fit.coeffs == pytest.approx((0.01, 1e-6), rel=1e-9)
    assert fit.rms_n == pytest.approx(0.0, abs=1e-9)
    assert fit.channel().model == "poly"
    assert fit_points(f, x, "poly3", zero=0.0).max_relative_pct < 1e-6


def test_monotone_table_is_the_mean_reading_per_force() -> None:
    fit = fit_points([1, 1, 2, 2, 4], [10, 12, 30, 30, 50], "monotone", zero=0)
    assert fit.coeffs == (0.0, 0.0, 11.0, 1.0, 30.0, 2.0, 50.0, 4.0)
    assert fit.channel().model == "table"
    assert fit.predict([20.5]) == pytest.approx([1.5])


@pytest.mark.parametrize(
    ("forces", "readings", "model", "match"),
    [
        ([5], [50], "linear", "needs at least 2"),
        ([1, 2], [1, 2], "poly2", "needs at least 3"),
        ([1, 2, 3], [100, 300, 200], "linear", "do not rise"),
        ([1, 2, 3], [100, 100, 200], "monotone", "do not rise"),
        ([-1, 2], [1, 2], "linear", "negative"),
        ([1, 2], [1, float("nan")], "linear", "not a number"),
        ([1, 2], [1, 2, 3], "linear", "one reading per force"),
        ([1, 2], [1, 2], "cubic", "unknown fit model"),
    ],
)
def test_fit_refuses_bad_points(
    forces: list[float], readings: list[float], model: str, match: str
) -> None:
    with pytest.raises(CalibrationError, match=match):
        fit_points(forces, readings, model, zero=0.0)  # type: ignore[arg-type]


def test_poly_fit_that_turns_back_is_refused() -> None:
    # Readings that rise fast then barely: a cubic through them bends down between points.
    x = np.array([100.0, 200.0, 300.0, 310.0, 320.0])
    with pytest.raises(CalibrationError, match="does not rise"):
        fit_points([1, 2, 3, 10, 11], x, "poly3", zero=0.0)
