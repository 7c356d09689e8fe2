"""Timestamps of a recording made elsewhere: their unit, the sampling rate, and segments.

A logger's or a tablet's timestamps jitter, pause (the pen was lifted, the logger stopped)
and now and then jump backwards (a clock glitch). :func:`split` cuts the samples where the
time goes back or a gap is longer than ``max_gap_s``; each piece is a :class:`Segment`, never
bridged. Within a segment whose steps jitter by more than :data:`JITTER_FRACTION` of the
nominal step, the samples are interpolated linearly onto a uniform clock at the rate, which
the metrics (trigger filters, Welch windows) assume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from finemotor.metrics.config import GAP_STEPS

F64 = npt.NDArray[np.float64]
TimeUnit = Literal["s", "ms"]

JITTER_FRACTION = 0.1
"""A segment whose steps differ from the nominal step by more than this is resampled."""


def time_unit(name: str, values: F64, given: str | None) -> tuple[TimeUnit, str]:
    """The unit of a time column and how it was decided.

    ``given`` (``"s"``/``"ms"``) wins; else the column name (``..._ms``, ``(ms)``, ``millis``:
    ms; ``..._s``, ``(s)``, ``sec``: s); else the steps: a median step of 0.5 or more cannot be
    seconds (that would be under 2 Hz), so it is milliseconds.
    """
    if given in ("s", "ms"):
        return given, "given"  # type: ignore[return-value]
    low = name.strip().lower()
    if low.endswith(("_ms", "(ms)", "[ms]", " ms")) or "millis" in low or low == "ms":
        return "ms", "column name"
    if low.endswith(("_s", "(s)", "[s]", " s", "_sec", "seconds")) or low in ("s", "sec"):
        return "s", "column name"
    steps = np.diff(values[np.isfinite(values)])
    steps = steps[steps > 0]
    if steps.shape[0] and float(np.median(steps)) >= 0.5:
        return "ms", "detected (median step of 0.5 or more)"
    return "s", "detected (median step under 0.5)"


def infer_rate(t: F64) -> float | None:
    """The sampling rate from timestamps in seconds: 1 / median positive step."""
    steps = np.diff(t)
    steps = steps[np.isfinite(steps) & (steps > 0)]
    if steps.shape[0] == 0:
        return None
    return 1.0 / float(np.median(steps))


@dataclass(frozen=True)
class Segment:
    """A stretch of samples with time moving forward and no gap longer than allowed.

    Attributes:
        index: 0-based order in the file.
        t: sample times (s, the file's clock; uniform when ``resampled``).
        x: the values at ``t``.
        first_row, last_row: 0-based data-row indices of its first and last sample.
        ends: why it ends: ``"end of file"``, ``"gap of X s"`` or ``"time goes back X s"``.
        resampled: True if its jittered samples were interpolated onto a uniform clock.
        largest_jitter_s: largest deviation of a step from the nominal step (before any
            resampling).
    """

    index: int
    t: F64
    x: F64
    first_row: int
    last_row: int
    ends: str
    resampled: bool
    largest_jitter_s: float

    @property
    def duration_s(self) -> float:
        """Last minus first sample time."""
        return float(self.t[-1] - self.t[0]) if self.t.shape[0] else 0.0


def split(t: F64, x: F64, rate_hz: float, max_gap_s: float | None = None) -> list[Segment]:
    """Cut samples (times in s, rows in file order) into forward-moving, gap-free segments.

    Rows whose time or value is not finite are left out first (counted by the caller).

    Args:
        t: times (s), in file order.
        x: values, one per time.
        rate_hz: the nominal rate (given or inferred).
        max_gap_s: a longer step starts a new segment; default :data:`GAP_STEPS` periods.
    """
    step = 1.0 / rate_hz
    gap = GAP_STEPS * step if max_gap_s is None else max_gap_s
    rows = np.flatnonzero(np.isfinite(t) & np.isfinite(x))
    tt, xx = t[rows], x[rows]
    d = np.diff(tt)
    cuts = np.flatnonzero((d <= 0) | (d > gap))
    bounds = [0, *(int(c) + 1 for c in cuts), tt.shape[0]]
    out: list[Segment] = []
    for k in range(len(bounds) - 1):
        a, b = bounds[k], bounds[k + 1]
        if b <= a:
            continue
        if b < tt.shape[0]:
            jump = float(tt[b] - tt[b - 1])
            ends = f"gap of {jump:.4g} s" if jump > 0 else f"time goes back {-jump:.4g} s"
        else:
            ends = "end of file"
        ts, xs = tt[a:b], xx[a:b]
        jitter = float(np.max(np.abs(np.diff(ts) - step))) if b - a > 1 else 0.0
        resampled = jitter > JITTER_FRACTION * step
        if resampled:
            n = math.floor((float(ts[-1]) - float(ts[0])) * rate_hz + 1e-9) + 1
            grid = float(ts[0]) + np.arange(n) / rate_hz
            xs = np.interp(grid, ts, xs)
            ts = grid
        out.append(
            Segment(len(out), ts, xs, int(rows[a]), int(rows[b - 1]), ends, resampled, jitter)
        )
    return out
