"""Verification of a force-measuring system, after ISO 7500-1 (and ASTM E4's ±1 % rule).

The reference forces are known (dead weights: the *true force constant* method), the kit's
indications vary. For each force ``F`` (newtons) with indications ``X1, X2, X3`` from three
increasing series and ``X'`` from one decreasing series:

* relative indication error ``q = (mean(X1..X3) - F) / F · 100``
* relative repeatability error ``b = (max(X1..X3) - min(X1..X3)) / F · 100``
* relative reversibility error ``v = (X' - X3) / F · 100``
* relative resolution ``a = r / F · 100`` (``r``: the indicator's resolution, see
  :func:`resolution_n`)

and once per verification the relative zero error ``f0 = X0 / FN · 100``, ``X0`` the largest
residual indication after a series is unloaded and ``FN`` the top of the range. The class
reached is the best one whose every limit holds (ISO 7500-1, Table 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from finemotor.errors import CalibrationError

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ClassLimits:
    """The largest errors (in %) a class allows: |q|, b, |v|, |f0|, a."""

    name: str
    q: float
    b: float
    v: float
    f0: float
    a: float


ISO_CLASSES: tuple[ClassLimits, ...] = (
    ClassLimits("0.5", 0.5, 0.5, 0.75, 0.05, 0.25),
    ClassLimits("1", 1.0, 1.0, 1.5, 0.1, 0.5),
    ClassLimits("2", 2.0, 2.0, 3.0, 0.2, 1.0),
    ClassLimits("3", 3.0, 3.0, 4.5, 0.3, 1.5),
)
"""ISO 7500-1 Table 2, best first."""


@dataclass(frozen=True)
class ForceResult:
    """The errors at one reference force (all in %; ``v`` is None without a decreasing series)."""

    force_n: float
    mean_n: float
    q: float
    b: float
    v: float | None
    a: float


@dataclass(frozen=True)
class Verification:
    """Every force's errors, the zero error, the worst of each, and the class reached.

    ``klass`` is the name of the best class met ("0.5", "1", "2", "3"), or None if none is.
    """

    points: tuple[ForceResult, ...]
    f0: float
    q_max: float
    b_max: float
    v_max: float
    a_max: float
    klass: str | None
    failed: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """True if some class is reached."""
        return self.klass is not None


def resolution_n(increment_n: float, fluctuation_n: float = 0.0) -> float:
    """The indicator's resolution ``r``: one increment, or, when the reading fluctuates at rest,
    half the fluctuation's range plus one increment (ISO 7500-1, 6.1)."""
    if fluctuation_n > increment_n:
        return fluctuation_n / 2.0 + increment_n
    return increment_n


def verify(
    forces_n: Sequence[float] | F64,
    increasing: Sequence[Sequence[float]] | F64,
    decreasing: Sequence[float] | F64 | None,
    zero_residual_n: float,
    range_n: float,
    resolution: float | Sequence[float] | F64,
    classes: Sequence[ClassLimits] = ISO_CLASSES,
) -> Verification:
    """Verify indications against reference forces; return the errors and the class reached.

    Args:
        forces_n: the reference forces, increasing, all > 0 (N).
        increasing: indications (N), one row per increasing series, one column per force.
        decreasing: indications (N) of the decreasing series, in the order of ``forces_n``.
        zero_residual_n: the largest residual indication after unloading (N, signed).
        range_n: the top of the verified range ``FN`` (N).
        resolution: ``r`` (N), one value or one per force.
        classes: the class limits, best first.

    Raises:
        CalibrationError: on shapes that do not match or forces that are not positive.
    """
    f = np.asarray(forces_n, dtype=np.float64)
    x = np.atleast_2d(np.asarray(increasing, dtype=np.float64))
    if f.ndim != 1 or f.size == 0 or x.shape[1] != f.size:
        raise CalibrationError(
            f"{x.shape[1] if x.ndim == 2 else 0} indications per series for {f.size} forces: "
            "record one indication per reference force in every series"
        )
    if np.any(f <= 0) or range_n <= 0:
        raise CalibrationError("reference forces and the range must be positive (newtons)")
    r = np.broadcast_to(np.asarray(resolution, dtype=np.float64), f.shape)
    mean = x.mean(axis=0)
    q = (mean - f) / f * 100.0
    b = (x.max(axis=0) - x.min(axis=0)) / f * 100.0
    a = r / f * 100.0
    v: F64 | None = None
    if decreasing is not None:
        d = np.asarray(decreasing, dtype=np.float64)
        if d.shape != f.shape:
            raise CalibrationError(
                f"the decreasing series has {d.size} indications for {f.size} forces: record "
                "one per reference force"
            )
        v = (d - x[-1]) / f * 100.0
    f0 = zero_residual_n / range_n * 100.0
    points = tuple(
        ForceResult(
            float(f[i]),
            float(mean[i]),
            float(q[i]),
            float(b[i]),
            None if v is None else float(v[i]),
            float(a[i]),
        )
        for i in range(f.size)
    )
    q_max = float(np.max(np.abs(q)))
    b_max = float(np.max(b))
    v_max = 0.0 if v is None else float(np.max(np.abs(v)))
    a_max = float(np.max(a))
    klass: str | None = None
    failed: tuple[str, ...] = ()
    for c in classes:
        bad = tuple(
            name
            for name, value, limit in (
                ("q", q_max, c.q),
                ("b", b_max, c.b),
                ("v", v_max, c.v),
                ("f0", abs(f0), c.f0),
                ("a", a_max, c.a),
            )
            if value > limit
        )
        if not bad:
            klass = c.name
            break
        failed = bad  # what kept the last (loosest) class out
    return Verification(points, f0, q_max, b_max, v_max, a_max, klass, () if klass else failed)
