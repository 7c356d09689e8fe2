"""Streaming statistics whose results do not depend on how the stream was cut into blocks.

Floating-point sums depend on the order of additions. :class:`Moments` copies incoming
values into a fixed-size chunk and sums each full chunk at once, so the same values give
bit-identical results whether they arrived in one array or in many small blocks: this is
what lets the live engine's final values equal the offline summary's exactly.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


class Moments:
    """Count, mean and standard deviation of a stream, block-boundary independent.

    Sums are taken about a shift (the first value seen) for numerical stability. Memory is
    one chunk of ``chunk`` floats.
    """

    __slots__ = ("_buf", "_k", "_n", "_s1", "_s2", "_shift")

    def __init__(self, chunk: int = 1024) -> None:
        self._buf = np.empty(chunk, dtype=np.float64)
        self._k = 0
        self._n = 0
        self._s1 = 0.0
        self._s2 = 0.0
        self._shift: float | None = None

    def reset(self) -> None:
        """Forget everything seen."""
        self._k = self._n = 0
        self._s1 = self._s2 = 0.0
        self._shift = None

    def add(self, values: F64) -> None:
        """Add a 1-D array of finite values."""
        m = int(values.shape[0])
        if m == 0:
            return
        if self._shift is None:
            self._shift = float(values[0])
        size = self._buf.shape[0]
        i = 0
        while i < m:
            take = min(size - self._k, m - i)
            self._buf[self._k : self._k + take] = values[i : i + take]
            self._k += take
            i += take
            if self._k == size:
                self._flush()

    def add_one(self, value: float) -> None:
        """Add a single value."""
        self.add(np.array([value], dtype=np.float64))

    def _flush(self) -> None:
        d = self._buf[: self._k] - (self._shift or 0.0)
        self._s1 += float(np.sum(d))
        self._s2 += float(np.dot(d, d))
        self._n += self._k
        self._k = 0

    def _sums(self) -> tuple[int, float, float]:
        if self._k == 0:
            return self._n, self._s1, self._s2
        d = self._buf[: self._k] - (self._shift or 0.0)
        return self._n + self._k, self._s1 + float(np.sum(d)), self._s2 + float(np.dot(d, d))

    @property
    def n(self) -> int:
        """How many values were added."""
        return self._n + self._k

    def mean(self) -> float | None:
        """Mean, or None if empty."""
        n, s1, _ = self._sums()
        if n == 0:
            return None
        return (self._shift or 0.0) + s1 / n

    def sd(self) -> float | None:
        """Sample standard deviation (n - 1), or None with fewer than 2 values."""
        n, s1, s2 = self._sums()
        if n < 2:
            return None
        var = (s2 - s1 * s1 / n) / (n - 1)
        return math.sqrt(max(var, 0.0))

    def cv(self) -> float | None:
        """Coefficient of variation SD/mean in percent, or None if undefined (mean <= 0)."""
        m, s = self.mean(), self.sd()
        if m is None or s is None or m <= 0.0:
            return None
        return 100.0 * s / m


def cv_percent(values: F64) -> float | None:
    """Return SD/mean*100 of an array (sample SD), None if undefined."""
    if values.shape[0] < 2:
        return None
    mean = float(np.mean(values))
    if mean <= 0.0:
        return None
    return 100.0 * float(np.std(values, ddof=1)) / mean


def slope(x: F64, y: F64) -> float | None:
    """Least-squares slope of y on x, None with fewer than 2 distinct x."""
    if x.shape[0] < 2:
        return None
    xm = x - float(np.mean(x))
    sxx = float(np.dot(xm, xm))
    if sxx == 0.0:
        return None
    return float(np.dot(xm, y - float(np.mean(y)))) / sxx


def detrend_linear(t: F64, y: F64) -> F64:
    """Return y minus its least-squares line in t."""
    b = slope(t, y)
    if b is None:
        return y - float(np.mean(y)) if y.shape[0] else y
    return y - (float(np.mean(y)) + b * (t - float(np.mean(t))))
