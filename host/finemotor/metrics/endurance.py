"""Writing endurance: per-minute bins, their trends, and pinch strength before vs after.

Bins run from the first sample of the recording: bin k covers ``[t0 + k*bin_s, t0 +
(k+1)*bin_s)``. Samples fall into the bin of their time; strokes count in the bin where they
start; on-paper and in-air intervals are split across the bins they cross.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from finemotor.metrics.results import (
    PER_MINUTE,
    PERCENT,
    PERCENT_PER_MIN,
    RATIO,
    Metric,
    absent,
    maybe,
    present,
)
from finemotor.metrics.stats import Moments, slope

F64 = npt.NDArray[np.float64]

_OMIT_NONE = {"json_omit_none": True}

BIN_QUANTITIES: tuple[str, ...] = (
    "writing_rate",
    "mean_force",
    "force_cv",
    "in_air_ratio",
    "barrel_grip",
)


@dataclass(frozen=True)
class EnduranceBin:
    """One bin of the writing (a minute by default), from the recording's first sample.

    Attributes:
        index: the bin's number, 0 for the first.
        duration_s: how long the bin is, in s (the last one may be shorter).
        writing_rate: strokes started in the bin per minute (``1/min``).
        mean_force: mean tip force of its pen-down samples, in N.
        force_cv: their coefficient of variation, in %.
        in_air_ratio: in-air time over on-paper time (ratio, ``1``).
        barrel_grip: mean barrel grip of its pen-down samples, in N.
    """

    index: int
    duration_s: Metric
    writing_rate: Metric
    mean_force: Metric
    force_cv: Metric
    in_air_ratio: Metric
    barrel_grip: Metric


@dataclass(frozen=True)
class EnduranceTrend:
    """How one quantity changed over the whole bins.

    Attributes:
        slope: least-squares slope as % of the first bin per minute (``%/min``).
        decline: decline index: the mean of the last two bins against the first two, in %.
    """

    slope: Metric
    decline: Metric


@dataclass(frozen=True)
class EnduranceTrends:
    """The trend of each per-bin quantity (see :class:`EnduranceBin`); each is None (and left
    out of the JSON) when the recording could not be analysed at all."""

    writing_rate: EnduranceTrend | None = field(default=None, metadata=_OMIT_NONE)
    """Of strokes per minute."""
    mean_force: EnduranceTrend | None = field(default=None, metadata=_OMIT_NONE)
    """Of the mean tip force: the writing endurance trend."""
    force_cv: EnduranceTrend | None = field(default=None, metadata=_OMIT_NONE)
    """Of the tip force CV."""
    in_air_ratio: EnduranceTrend | None = field(default=None, metadata=_OMIT_NONE)
    """Of in-air over on-paper time."""
    barrel_grip: EnduranceTrend | None = field(default=None, metadata=_OMIT_NONE)
    """Of the mean barrel grip."""


@dataclass(frozen=True)
class Endurance:
    """Writing endurance: the per-minute bins and each quantity's trend over them.

    Attributes:
        bins: every bin, in order.
        trends: each quantity's slope and decline over the whole bins.
        reason: why there are neither bins nor trends (None, and not in the JSON, when the
            recording was analysed).
    """

    bins: tuple[EnduranceBin, ...] = ()
    trends: EnduranceTrends = field(default_factory=EnduranceTrends)
    reason: str | None = field(default=None, metadata=_OMIT_NONE)

    @classmethod
    def absent(cls, reason: str) -> Endurance:
        """No bins and no trends, with the reason."""
        return cls(reason=reason)


@dataclass
class _Bin:
    index: int
    tip: Moments | None = field(default_factory=Moments)
    barrel: Moments | None = field(default_factory=Moments)
    tip_stats: tuple[float | None, float | None] = (None, None)  # mean, cv once frozen
    barrel_mean: float | None = None
    on_paper_s: float = 0.0
    in_air_s: float = 0.0
    strokes: int = 0

    def freeze(self) -> None:
        """Keep the statistics, free the sample buffers."""
        if self.tip is not None:
            self.tip_stats = (self.tip.mean(), self.tip.cv())
            self.tip = None
        if self.barrel is not None:
            self.barrel_mean = self.barrel.mean()
            self.barrel = None

    def stats(self) -> tuple[float | None, float | None, float | None]:
        """Return (mean tip force, tip CV %, mean barrel) of pen-down samples."""
        tip = (self.tip.mean(), self.tip.cv()) if self.tip is not None else self.tip_stats
        bar = self.barrel.mean() if self.barrel is not None else self.barrel_mean
        return tip[0], tip[1], bar


class BinSet:
    """Per-bin accumulators; sample buffers of past bins are freed as time moves on."""

    def __init__(self, t0: float, bin_s: float) -> None:
        self.t0 = t0
        self.bin_s = bin_s
        self._bins: dict[int, _Bin] = {}
        self._frozen_below = 0

    def _bin(self, k: int) -> _Bin:
        b = self._bins.get(k)
        if b is None:
            b = self._bins[k] = _Bin(k)
            if k < self._frozen_below:
                b.freeze()
        return b

    def index(self, t: float) -> int:
        """Return the bin index of time ``t``."""
        return max(0, math.floor((t - self.t0) / self.bin_s))

    def add_down_samples(self, t: F64, tip: F64, barrel: F64 | None) -> None:
        """Add pen-down samples (increasing times)."""
        if t.shape[0] == 0:
            return
        k0, k1 = self.index(float(t[0])), self.index(float(t[-1]))
        edges = self.t0 + self.bin_s * np.arange(k0 + 1, k1 + 1)
        cuts = np.searchsorted(t, edges, side="left")
        bounds = [0, *cuts.tolist(), t.shape[0]]
        for j, k in enumerate(range(k0, k1 + 1)):
            a, b = bounds[j], bounds[j + 1]
            if b <= a:
                continue
            acc = self._bin(k)
            if acc.tip is not None:
                acc.tip.add(tip[a:b])
            if barrel is not None and acc.barrel is not None:
                acc.barrel.add(barrel[a:b])

    def advance(self, t: float) -> None:
        """Samples before ``t`` have all been added: free the buffers of finished bins."""
        k = self.index(t)
        for j in range(self._frozen_below, k):
            if j in self._bins:
                self._bins[j].freeze()
        self._frozen_below = max(self._frozen_below, k)

    def add_interval(self, start: float, end: float, on_paper: bool) -> None:
        """Add an on-paper (or in-air) interval, split across bins."""
        if end <= start:
            return
        for k in range(self.index(start), self.index(end) + 1):
            lo = max(start, self.t0 + k * self.bin_s)
            hi = min(end, self.t0 + (k + 1) * self.bin_s)
            if hi > lo:
                acc = self._bin(k)
                if on_paper:
                    acc.on_paper_s += hi - lo
                else:
                    acc.in_air_s += hi - lo

    def add_stroke(self, start: float) -> None:
        """Count a stroke starting at ``start``."""
        self._bin(self.index(start)).strokes += 1

    def rows(self, t_end: float) -> list[tuple[int, float, dict[str, float | None]]]:
        """Return ``(index, duration_s, values)`` for every bin up to ``t_end``."""
        if t_end <= self.t0:
            return []
        last = self.index(t_end - 1e-9)
        out = []
        for k in range(last + 1):
            b = self._bins.get(k) or _Bin(k)
            dur = min(self.bin_s, t_end - (self.t0 + k * self.bin_s))
            mean, cv, bar = b.stats()
            out.append(
                (
                    k,
                    dur,
                    {
                        "writing_rate": b.strokes / (dur / 60.0) if dur > 0 else None,
                        "mean_force": mean,
                        "force_cv": cv,
                        "in_air_ratio": (b.in_air_s / b.on_paper_s) if b.on_paper_s > 0 else None,
                        "barrel_grip": bar,
                    },
                )
            )
        return out


def trend(minutes: F64, values: F64) -> tuple[Metric, Metric]:
    """Return (slope as % of the first bin per minute, decline index %) of bin values."""
    n = values.shape[0]
    if n < 2:
        why = f"needs at least 2 full bins with a value, have {n}"
        return absent(PERCENT_PER_MIN, why), absent(PERCENT, "needs at least 4 full bins")
    first = float(values[0])
    b = slope(minutes, values)
    if first == 0.0 or b is None:
        s = absent(PERCENT_PER_MIN, "first bin is zero: no relative slope")
    else:
        s = present(100.0 * b / abs(first), PERCENT_PER_MIN)
    if n < 4:
        d = absent(PERCENT, f"needs at least 4 full bins with a value, have {n}")
    else:
        head = float(np.mean(values[:2]))
        tail = float(np.mean(values[-2:]))
        d = (
            present(100.0 * (tail - head) / abs(head), PERCENT)
            if head != 0.0
            else absent(PERCENT, "first two bins average zero")
        )
    return s, d


def pinch_change(pre: list[float], post: list[float], unit: str) -> dict[str, Metric]:
    """Return pinch strength before and after writing (max of trials) and the change in %.

    Args:
        pre: peak forces of the pinch trials before the writing task.
        post: peak forces after it.
        unit: ``"N"`` or ``"raw"`` (raw: only the change in % is reported).
    """
    why_pre = "no pinch trial before the writing task (grip task 'pinch_pre')"
    why_post = "no pinch trial after the writing task (grip task 'pinch_post')"
    p0 = max(pre) if pre else None
    p1 = max(post) if post else None
    if unit == "N":
        before = maybe(p0, "N", why_pre)
        after = maybe(p1, "N", why_post)
        before = Metric(before.value, before.unit, before.reason, display_unit="kgf")
        after = Metric(after.value, after.unit, after.reason, display_unit="kgf")
    else:
        raw_why = "channel is uncalibrated: force needs a calibration"
        before, after = absent("N", raw_why), absent("N", raw_why)
    if p0 is None or p1 is None:
        change = absent(PERCENT, why_pre if p0 is None else why_post)
    elif p0 <= 0.0:
        change = absent(PERCENT, "pinch force before writing is not positive")
    else:
        change = present(100.0 * (p1 - p0) / p0, PERCENT)
    return {"before": before, "after": after, "change": change}


def endurance_summary(
    rows: list[tuple[int, float, dict[str, float | None]]],
    min_bin_s: float,
    tip_unit: str,
    barrel_unit: str | None,
) -> Endurance:
    """Build the endurance section: the bins and, per quantity, slope and decline index."""
    units = {
        "writing_rate": PER_MINUTE,
        "mean_force": "N",
        "force_cv": PERCENT,
        "in_air_ratio": RATIO,
        "barrel_grip": "N",
    }
    raw_q = {"mean_force": tip_unit != "N", "barrel_grip": barrel_unit != "N"}
    bins_out = []
    for k, dur, vals in rows:
        entry: dict[str, Metric] = {}
        for q in BIN_QUANTITIES:
            v = vals[q]
            if q == "barrel_grip" and barrel_unit is None:
                entry[q] = absent(units[q], "no barrel channels in this recording")
            elif raw_q.get(q, False):
                entry[q] = absent(units[q], "channel is uncalibrated: force needs a calibration")
            else:
                entry[q] = maybe(v, units[q], "no pen-down samples in this bin")
        bins_out.append(
            EnduranceBin(
                index=k,
                duration_s=present(dur, "s"),
                writing_rate=entry["writing_rate"],
                mean_force=entry["mean_force"],
                force_cv=entry["force_cv"],
                in_air_ratio=entry["in_air_ratio"],
                barrel_grip=entry["barrel_grip"],
            )
        )
    trends: dict[str, EnduranceTrend] = {}
    full = [(k, vals) for k, dur, vals in rows if dur >= min_bin_s - 1e-9]
    for q in BIN_QUANTITIES:
        pts = [(k, vals[q]) for k, vals in full if vals[q] is not None]
        if q == "barrel_grip" and barrel_unit is None:
            why = "no barrel channels in this recording"
            trends[q] = EnduranceTrend(absent(PERCENT_PER_MIN, why), absent(PERCENT, why))
            continue
        minutes = np.array([p[0] for p in pts], dtype=np.float64)
        values = np.array([p[1] for p in pts], dtype=np.float64)
        s, d = trend(minutes, values)
        if raw_q.get(q, False):
            note = "from raw readings of an uncalibrated sensor: a trend only"
            s = Metric(s.value, s.unit, s.reason, note if s.present else None)
            d = Metric(d.value, d.unit, d.reason, note if d.present else None)
        trends[q] = EnduranceTrend(s, d)
    return Endurance(
        tuple(bins_out),
        EnduranceTrends(
            writing_rate=trends["writing_rate"],
            mean_force=trends["mean_force"],
            force_cv=trends["force_cv"],
            in_air_ratio=trends["in_air_ratio"],
            barrel_grip=trends["barrel_grip"],
        ),
    )
