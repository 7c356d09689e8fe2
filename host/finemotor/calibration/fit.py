"""Fitting reference forces to tared readings: the coefficients a kit stores.

Every model maps the tared reading ``x = reading - zero`` to newtons with no constant term
(zero reading is zero force), as the kit's calibration record does
(:mod:`finemotor.calibration.model`):

* ``linear``: ``N = c0·x`` (load cells), least squares through the origin.
* ``poly2``/``poly3``: ``N = c0·x + c1·x² (+ c2·x³)``, least squares, refused unless it rises
  over the whole calibrated range.
* ``monotone``: a table of the mean reading at each reference force, interpolated linearly:
  for strongly non-linear channels. Noisy means that go back are pooled with their neighbours
  (isotonic regression, weighted by the points per force) so the table rises.

Coefficients are listed lowest power first: ``coeffs[k]`` multiplies ``x**(k+1)``, reading to
newtons, as the kit applies them. :attr:`Fit.inverse` gives the other direction (newtons to
tared reading, fitted by least squares to the same points), for comparing with tools that store
a fit that way.

A kit's own calibration (the guided procedure) is strict: readings that do not rise with the
force, or a polynomial that turns back within the range, are refused. Points kept by people
(``lenient=True``) are noisy and hysteretic: they get the least-squares fit with warnings, and
are refused only when no fit means anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import isotonic_regression

from finemotor.calibration.model import ChannelCalibration
from finemotor.calibration.names import FIT_MODELS, FitModel
from finemotor.errors import CalibrationError

F64 = npt.NDArray[np.float64]
_MIN_FORCES = {"linear": 2, "poly2": 3, "poly3": 4, "monotone": 2}


@dataclass(frozen=True)
class Fit:
    """A fitted calibration and how well it matches the points it came from.

    Attributes:
        model: the fitted model.
        zero: the reading at zero force.
        coeffs: the device record's coefficients (see the module docstring).
        reference_n: the points' reference forces (N).
        reading: the points' readings (raw, not tared).
        residuals_n: fitted minus reference force (N), per point.
        warnings: what a user must know about this fit (non-monotone readings...).
        inverse: force to tared reading, ``x = Σ inverse[k-1]·N**k`` (least squares, same
            degree; for ``monotone``, the table's pairs swapped), empty if not computed.
    """

    model: FitModel
    zero: float
    coeffs: tuple[float, ...]
    reference_n: F64
    reading: F64
    residuals_n: F64
    warnings: tuple[str, ...] = ()
    inverse: tuple[float, ...] = ()

    def channel(self) -> ChannelCalibration:
        """The fit as the kit stores it (``linear``, ``poly`` or ``table``)."""
        kind = {"linear": "linear", "poly2": "poly", "poly3": "poly", "monotone": "table"}
        return ChannelCalibration(kind[self.model], round(self.zero), self.coeffs)  # type: ignore[arg-type]

    def predict(self, reading: npt.ArrayLike) -> F64:
        """Newtons for raw readings (not tared), as the kit's record will give them."""
        x = np.asarray(reading, dtype=np.float64) - self.zero
        return _evaluate(self.model, self.coeffs, x)

    @property
    def rms_n(self) -> float:
        """Root-mean-square residual (N)."""
        return float(np.sqrt(np.mean(self.residuals_n**2)))

    @property
    def worst(self) -> int:
        """Index of the point with the largest absolute residual."""
        return int(np.argmax(np.abs(self.residuals_n)))

    @property
    def max_relative_pct(self) -> float:
        """Largest |residual| relative to its reference force, over forces > 0 (%)."""
        m = self.reference_n > 0
        if not np.any(m):
            return 0.0
        return float(np.max(np.abs(self.residuals_n[m] / self.reference_n[m])) * 100.0)


def _evaluate(model: str, coeffs: tuple[float, ...], x: F64) -> F64:
    if model == "monotone":
        return np.asarray(np.interp(x, coeffs[0::2], coeffs[1::2]), dtype=np.float64)
    out = np.zeros_like(x)
    for c in reversed(coeffs):
        out = (out + c) * x
    return out


def fit_points(
    reference_n: npt.ArrayLike,
    reading: npt.ArrayLike,
    model: FitModel = "linear",
    zero: float | None = None,
    lenient: bool = False,
) -> Fit:
    """Fit ``model`` to reference forces (N) and the readings taken under them.

    Args:
        reference_n: reference force per point (N, >= 0).
        reading: the reading per point (raw counts or any indication).
        model: one of :data:`FIT_MODELS`.
        zero: the reading at zero force; if None, the mean reading of the points at 0 N, else 0.
        lenient: fit noisy, non-monotone points with warnings instead of refusing them.

    Raises:
        CalibrationError: unknown model, too few distinct forces, non-finite values, negative
            forces, readings that do not change with the force, a monotone table that cannot
            rise; when not ``lenient``, also readings that do not rise steadily with the force
            and a polynomial that turns back within the range.
    """
    if model not in FIT_MODELS:
        raise CalibrationError(f"unknown fit model {model!r}: use one of {', '.join(FIT_MODELS)}")
    f = np.asarray(reference_n, dtype=np.float64).ravel()
    r = np.asarray(reading, dtype=np.float64).ravel()
    if f.shape != r.shape:
        raise CalibrationError(
            f"{f.size} reference forces but {r.size} readings: give one reading per force"
        )
    if not (np.all(np.isfinite(f)) and np.all(np.isfinite(r))):
        raise CalibrationError("a reference or reading is not a number: fix or remove that point")
    if np.any(f < 0):
        raise CalibrationError("a reference force is negative: give forces in newtons, >= 0")
    if zero is None:
        zero = float(np.mean(r[f == 0])) if np.any(f == 0) else 0.0
    loaded = f > 0
    forces = np.unique(f[loaded])
    need = _MIN_FORCES[model]
    if forces.size < need:
        raise CalibrationError(
            f"{forces.size} distinct non-zero reference force(s): a {model} fit needs at least "
            f"{need} (ISO 7500-1 asks for 5); load more forces across the range"
        )
    x = r - zero
    means = np.array([np.mean(x[f == v]) for v in forces])
    counts = np.array([np.count_nonzero(f == v) for v in forces], dtype=np.float64)
    warnings: list[str] = []
    slope = float(np.polyfit(forces, means, 1)[0]) if forces.size >= 2 else 0.0
    sign = float(np.sign(slope)) if lenient else float(np.sign(means[-1]))
    if sign == 0 or (lenient and float(np.ptp(means)) == 0.0):
        raise CalibrationError(
            "the readings do not change with the force (means per force: "
            + ", ".join(f"{m:.6g}" for m in means)
            + "): check that the reading column is the sensor's and the sensor is connected"
        )
    steady = not (np.any(np.diff(means) * sign <= 0) or np.any(means * sign <= 0))
    if not steady:
        text = (
            "the readings do not rise steadily with the force (means per force: "
            + ", ".join(f"{m:.6g}" for m in means)
            + ")"
        )
        if not lenient:
            raise CalibrationError(
                text + ": check that the loads were applied in order, the sensor is mounted "
                "and not overloaded, and the reading settled before it was taken"
            )
        warnings.append(
            text + ": fitted by least squares anyway; noise or hysteresis this large limits "
            "the accuracy (see the residuals)"
        )
    if model == "monotone":
        if sign < 0:
            raise CalibrationError(
                "a monotone table needs readings that rise with the force; this channel's "
                "fall: use --model linear"
            )
        coeffs = _monotone_table(forces, means, counts, warnings)
        inverse = tuple(v for pair in zip(coeffs[1::2], coeffs[0::2], strict=True) for v in pair)
    else:
        degree = {"linear": 1, "poly2": 2, "poly3": 3}[model]
        xl, fl = x[loaded], f[loaded]
        coeffs = _through_origin(xl, fl, degree)
        inverse = _through_origin(fl, xl, degree)
        lo, hi = sorted((0.0, float(means[-1] if not lenient else np.max(np.abs(xl)) * sign)))
        grid = np.linspace(lo, hi, 201)
        rise = np.gradient(_evaluate(model, coeffs, grid), grid)
        if np.any(rise * sign <= 0):
            if not lenient:
                raise CalibrationError(
                    f"the {model} fit does not rise over the whole range: use --model monotone "
                    "(a table) or a lower degree"
                )
            bad = grid[rise * sign <= 0]
            warnings.append(
                f"the {model} fit does not rise between readings {bad.min() + zero:.6g} and "
                f"{bad.max() + zero:.6g}: there one force has more than one reading; use a "
                "lower degree or --model monotone before storing it on a kit"
            )
    residuals = _evaluate(model, coeffs, x) - f
    return Fit(model, float(zero), coeffs, f, r, residuals, tuple(warnings), inverse)


def _through_origin(x: F64, y: F64, degree: int) -> tuple[float, ...]:
    """Least-squares ``y = Σ c[k-1]·x**k`` (no constant), scaled for conditioning."""
    scale = float(np.max(np.abs(x)))
    u = x / scale
    design = np.stack([u**k for k in range(1, degree + 1)], axis=1)
    sol, *_ = np.linalg.lstsq(design, y, rcond=None)
    return tuple(float(sol[k] / scale ** (k + 1)) for k in range(degree))


def _monotone_table(forces: F64, means: F64, counts: F64, warnings: list[str]) -> tuple[float, ...]:
    """(x0, N0, x1, N1, ...) from 0: the means per force pooled until they rise (isotonic
    regression weighted by the points per force); refused if fewer than 2 levels remain."""
    iso = isotonic_regression(means, weights=counts, increasing=True)
    levels = iso.x
    keep = np.r_[True, np.diff(levels) > 0]
    blocks = np.cumsum(keep) - 1
    xs = np.array([levels[blocks == b][0] for b in range(int(blocks[-1]) + 1)])
    fs = np.array(
        [np.average(forces[blocks == b], weights=counts[blocks == b]) for b in range(xs.size)]
    )
    if xs.size < 2 or xs[0] <= 0.0:
        raise CalibrationError(
            "no monotone table fits these points: the readings do not rise with the force "
            "over the range; use --model linear, or retake the points"
        )
    if xs.size < forces.size:
        warnings.append(
            f"{forces.size - xs.size} reference force(s) pooled with their neighbours so the "
            "table rises (their mean readings went back)"
        )
    return tuple(
        float(v) for pair in zip(np.r_[0.0, xs], np.r_[0.0, fs], strict=True) for v in pair
    )
