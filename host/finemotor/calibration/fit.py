"""Fitting reference forces to tared readings: the coefficients a kit stores.

Every model maps the tared reading ``x = reading - zero`` to newtons with no constant term
(zero reading is zero force), as the kit's calibration record does
(:mod:`finemotor.calibration.model`):

* ``linear``: ``N = c0·x`` (load cells), least squares through the origin.
* ``poly2``/``poly3``: ``N = c0·x + c1·x² (+ c2·x³)``, least squares, refused unless it rises
  over the whole calibrated range.
* ``monotone``: a table of the mean reading at each reference force, interpolated linearly:
  for strongly non-linear channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

from finemotor.calibration.model import ChannelCalibration
from finemotor.errors import CalibrationError

F64 = npt.NDArray[np.float64]
FitModel = Literal["linear", "poly2", "poly3", "monotone"]
FIT_MODELS: tuple[str, ...] = get_args(FitModel)
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
    """

    model: FitModel
    zero: float
    coeffs: tuple[float, ...]
    reference_n: F64
    reading: F64
    residuals_n: F64

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
) -> Fit:
    """Fit ``model`` to reference forces (N) and the readings taken under them.

    Args:
        reference_n: reference force per point (N, >= 0).
        reading: the reading per point (raw counts or any indication).
        model: one of :data:`FIT_MODELS`.
        zero: the reading at zero force; if None, the mean reading of the points at 0 N, else 0.

    Raises:
        CalibrationError: unknown model, too few distinct forces, non-finite values, negative
            forces, readings that do not rise with the force, or a fit that is not monotone.
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
    sign = np.sign(means[-1])
    if sign == 0 or np.any(np.diff(means) * sign <= 0) or np.any(means * sign <= 0):
        raise CalibrationError(
            "the readings do not rise steadily with the force (means per force: "
            + ", ".join(f"{m:.6g}" for m in means)
            + "): check that the loads were applied in order, the sensor is mounted and not "
            "overloaded, and the reading settled before it was taken"
        )
    if model == "monotone":
        if sign < 0:
            raise CalibrationError(
                "a monotone table needs readings that rise with the force; this channel's "
                "fall: use --model linear"
            )
        coeffs: tuple[float, ...] = tuple(
            float(v)
            for pair in zip(np.r_[0.0, means], np.r_[0.0, forces], strict=True)
            for v in pair
        )
    else:
        degree = {"linear": 1, "poly2": 2, "poly3": 3}[model]
        xl, fl = x[loaded], f[loaded]
        scale = float(np.max(np.abs(xl)))
        u = xl / scale
        design = np.stack([u**k for k in range(1, degree + 1)], axis=1)
        sol, *_ = np.linalg.lstsq(design, fl, rcond=None)
        coeffs = tuple(float(sol[k] / scale ** (k + 1)) for k in range(degree))
        grid = np.linspace(0.0, float(means[-1]), 201)
        slope = np.gradient(_evaluate(model, coeffs, grid), grid)
        if np.any(slope * sign <= 0):
            raise CalibrationError(
                f"the {model} fit does not rise over the whole range: use --model monotone "
                "(a table) or a lower degree"
            )
    residuals = _evaluate(model, coeffs, x) - f
    return Fit(model, float(zero), coeffs, f, r, residuals)
