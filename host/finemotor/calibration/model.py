"""Calibration coefficients as the devices store them, and the counts-to-newtons mapping.

Every model works on ``x = counts - zero`` (the tared reading):

* ``none``: the channel is uncalibrated; only unit-free metrics can use it.
* ``linear``: ``N = c0 * x`` (load cells).
* ``poly``: ``N = sum(c[k-1] * x**k for k in 1..n)`` (no constant term: zero counts is zero force).
* ``table``: ``coeffs = (x0, N0, x1, N1, ...)`` with x and N strictly increasing; linear
  interpolation inside, clamped to the end values outside (reported by :meth:`convert`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

from finemotor.errors import CalibrationError

CalibrationModel = Literal["none", "linear", "poly", "table"]
MODELS: tuple[str, ...] = get_args(CalibrationModel)

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

_RECALIBRATE = "recalibrate the channel (see docs/calibration.md)"


@dataclass(frozen=True)
class Conversion:
    """Newtons from counts, with the samples the calibration could not cover.

    Attributes:
        newtons: force per sample (N), clamped to the calibrated range for ``table`` models.
        out_of_range: True where the reading lay outside the calibrated table (clamped value).
    """

    newtons: F64
    out_of_range: Bools

    @property
    def n_out_of_range(self) -> int:
        """How many samples were clamped."""
        return int(np.count_nonzero(self.out_of_range))


@dataclass(frozen=True)
class ChannelCalibration:
    """How one channel's counts map to newtons.

    Attributes:
        model: ``"none"``, ``"linear"``, ``"poly"`` or ``"table"``.
        zero: the count reading at zero force (tare).
        coeffs: the model's coefficients (see the module docstring).

    Raises:
        CalibrationError: on an unknown model, non-finite coefficients, a wrong coefficient
            count or a table that is not strictly increasing.
    """

    model: CalibrationModel
    zero: int
    coeffs: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise CalibrationError(
                f"unknown calibration model {self.model!r} (known: {', '.join(MODELS)}); "
                "update finemotor or " + _RECALIBRATE
            )
        if isinstance(self.zero, bool) or not isinstance(self.zero, int | np.integer):
            raise CalibrationError(f"zero must be an integer count, got {self.zero!r}")
        object.__setattr__(self, "zero", int(self.zero))
        object.__setattr__(self, "coeffs", tuple(float(c) for c in self.coeffs))
        if self.model == "none":
            return
        if not all(math.isfinite(c) for c in self.coeffs):
            raise CalibrationError(
                f"{self.model} calibration has a non-finite coefficient {self.coeffs}; "
                + _RECALIBRATE
            )
        n = len(self.coeffs)
        if self.model == "linear" and (n != 1 or self.coeffs[0] == 0.0):
            raise CalibrationError(
                f"linear calibration needs exactly one non-zero coefficient, got {self.coeffs}; "
                + _RECALIBRATE
            )
        if self.model == "poly" and (n == 0 or not any(self.coeffs)):
            raise CalibrationError(
                f"poly calibration needs at least one non-zero coefficient, got {self.coeffs}; "
                + _RECALIBRATE
            )
        if self.model == "table":
            if n < 4 or n % 2:
                raise CalibrationError(
                    f"table calibration needs pairs (x, N) and at least two of them, got {n} "
                    "numbers; " + _RECALIBRATE
                )
            xs, ns = np.asarray(self.coeffs[0::2]), np.asarray(self.coeffs[1::2])
            if np.any(np.diff(xs) <= 0) or np.any(np.diff(ns) <= 0):
                raise CalibrationError(
                    "table calibration must have strictly increasing counts and forces, got "
                    f"{self.coeffs}; " + _RECALIBRATE
                )

    @property
    def calibrated(self) -> bool:
        """True if counts can be turned into newtons."""
        return self.model != "none"

    def relative(self, counts: npt.ArrayLike) -> F64:
        """Return ``counts - zero`` as float64: the tared reading in raw units."""
        return np.asarray(counts, dtype=np.int64).astype(np.float64) - float(self.zero)

    def convert(self, counts: npt.ArrayLike) -> Conversion:
        """Return newtons and the mask of readings outside the calibrated range.

        Raises:
            CalibrationError: if the channel is uncalibrated (model ``"none"``).
        """
        x = self.relative(counts)
        if self.model == "none":
            raise CalibrationError(
                "channel is uncalibrated (model 'none'): calibrate it, or use only unit-free "
                "metrics on its raw counts"
            )
        inside = np.ones(x.shape, dtype=np.bool_)
        if self.model == "linear":
            n = self.coeffs[0] * x
        elif self.model == "poly":
            n = np.zeros_like(x)
            for c in reversed(self.coeffs):  # Horner: ((c_n x + c_{n-1}) x + ...) x
                n = (n + c) * x
        else:
            xs = np.asarray(self.coeffs[0::2])
            ns = np.asarray(self.coeffs[1::2])
            inside = (x >= xs[0]) & (x <= xs[-1])
            n = np.interp(x, xs, ns)  # clamps to N0 / N_last outside
        return Conversion(newtons=np.asarray(n, dtype=np.float64), out_of_range=~inside)

    def to_newtons(self, counts: npt.ArrayLike) -> F64:
        """Return force in newtons for ``counts`` (vectorised; table readings are clamped).

        Use :meth:`convert` to learn which samples were clamped.

        Raises:
            CalibrationError: if the channel is uncalibrated.
        """
        return self.convert(counts).newtons


@dataclass(frozen=True)
class DeviceCalibration:
    """A device's calibration record: one :class:`ChannelCalibration` per channel.

    Attributes:
        calibrated_at: unix seconds of the calibration (0: never calibrated).
        channels: per channel, in the device's channel order.
    """

    calibrated_at: int
    channels: tuple[ChannelCalibration, ...]

    def __post_init__(self) -> None:
        if isinstance(self.calibrated_at, bool) or not isinstance(
            self.calibrated_at, int | np.integer
        ):
            raise CalibrationError(
                f"calibrated_at must be unix seconds (int), got {self.calibrated_at!r}"
            )
        if self.calibrated_at < 0:
            raise CalibrationError(
                f"calibrated_at must be >= 0 (0 = never), got {self.calibrated_at}"
            )
        object.__setattr__(self, "channels", tuple(self.channels))
        for i, ch in enumerate(self.channels):
            if not isinstance(ch, ChannelCalibration):
                raise CalibrationError(f"channel {i} is not a ChannelCalibration: {ch!r}")

    @classmethod
    def uncalibrated(cls, n_channels: int, zero: int = 0) -> DeviceCalibration:
        """Return a record that marks ``n_channels`` channels as uncalibrated."""
        return cls(0, tuple(ChannelCalibration("none", zero) for _ in range(n_channels)))

    @property
    def calibrated(self) -> bool:
        """True if every channel has a calibration model."""
        return bool(self.channels) and all(ch.calibrated for ch in self.channels)

    def channel(self, index: int) -> ChannelCalibration:
        """Return channel ``index``'s calibration.

        Raises:
            CalibrationError: if the record has no such channel.
        """
        if not 0 <= index < len(self.channels):
            raise CalibrationError(
                f"calibration record has {len(self.channels)} channel(s), no channel {index}; "
                "read the calibration from the device that made the recording"
            )
        return self.channels[index]
