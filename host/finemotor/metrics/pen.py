"""Pen metrics, streaming: the one code path for the live engine and the offline summary.

:class:`PenCore` takes force arrays (tip, and optionally the barrel grip sum) in newtons or
raw units, in any blocks, and keeps bounded state: pending samples for at most the pen-down
decision delay, one stroke's accumulators, one Welch window, the per-minute bins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import signal

from finemotor.metrics.config import ForceUnit, PenConfig, rate_or_unit_problem
from finemotor.metrics.endurance import BinSet, Endurance, endurance_summary
from finemotor.metrics.filters import lowpass_sos, zero_lag
from finemotor.metrics.pendown import PenDownSegmenter
from finemotor.metrics.results import (
    COUNT,
    NEWTON,
    PER_MINUTE,
    PER_SECOND,
    PERCENT,
    RATIO,
    SECOND,
    Metric,
    absent,
    maybe,
    present,
)
from finemotor.metrics.stats import Moments
from finemotor.metrics.tremor import WelchAccumulator, tremor_metrics

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

SATURATION_LIMIT = 0.01
"""Force metrics are absent when more than this share of pen-down samples is saturated."""


@dataclass(frozen=True)
class PenSummary:
    """Every pen metric of a recording (or of the recording so far).

    Attributes:
        rate_hz: nominal sampling rate.
        units: the unit of the tip and barrel signals (``"N"``, ``"raw"``, or None: absent).
        quality: sample counts, dropped and saturated samples, notes.
        timing: strokes, lifts, on-paper and in-air time, rates.
        force: tip force over pen-down samples, within/between-stroke CV, fluidity.
        tremor: tremor shares and peak frequencies.
        barrel: barrel grip mean and CV, grip-to-axial ratio.
        endurance: per-minute bins and their trends.
    """

    rate_hz: float
    units: dict[str, str | None]
    quality: dict[str, object]
    timing: dict[str, Metric]
    force: dict[str, Metric]
    tremor: dict[str, Metric]
    barrel: dict[str, Metric]
    endurance: Endurance


class _Stroke:
    """Accumulators of the stroke being processed (reused from stroke to stroke)."""

    def __init__(self, piece_len: int) -> None:
        self.tip = Moments()
        self.piece = np.empty(piece_len, dtype=np.float64)
        self.k = 0
        self.ref: list[float] = [math.nan, math.inf]  # the segmenter's [start, end]
        self.open = False

    @property
    def start(self) -> float:
        return self.ref[0]

    @property
    def end(self) -> float:
        return self.ref[1]

    def begin(self, ref: list[float]) -> None:
        self.tip.reset()
        self.k = 0
        self.ref, self.open = ref, True


class PenCore:
    """Streaming pen metrics over calibrated (or raw) force arrays."""

    def __init__(
        self,
        rate_hz: float,
        config: PenConfig | None = None,
        tip_unit: ForceUnit = "N",
        barrel_unit: ForceUnit | None = None,
    ) -> None:
        """Set up the metrics.

        Args:
            rate_hz: nominal sampling rate.
            config: thresholds and settings (defaults: docs/metrics.md).
            tip_unit: unit of the tip force given to :meth:`push`.
            barrel_unit: unit of the barrel grip given to :meth:`push` (None: no barrel).
        """
        self.config = cfg = config or PenConfig()
        self.rate_hz = float(rate_hz)
        self.tip_unit = tip_unit
        self.barrel_unit = barrel_unit
        self.unsupported = rate_or_unit_problem(
            self.rate_hz, cfg.min_rate_hz, cfg.threshold_unit, tip_unit, "pen-down thresholds"
        )
        self.seg = PenDownSegmenter(cfg.on, cfg.off, cfg.min_stroke_s, cfg.min_lift_s)
        self._pend: tuple[F64, F64, F64 | None, Bools] | None = None
        self._t_first: float | None = None
        self._t_last: float | None = None
        self._consumed_until = -math.inf
        self.n_samples = 0
        self.n_dropped = 0
        self._finished = False
        # session accumulators
        self._tip = Moments()
        self._barrel = Moments()
        self._stroke_cv = Moments()
        self._stroke_mean = Moments()
        self._n_strokes = 0
        self._on_paper = 0.0
        self._in_air = 0.0
        self._first_start: float | None = None
        self._last_end: float | None = None
        self._down_samples = 0
        self._sat_down = 0
        self._sat_any = 0
        self._inversions = 0
        self._fluid_time = 0.0
        self._bins: BinSet | None = None
        self._sos: F64 | None = None
        self._welch: WelchAccumulator | None = None
        piece_len = 16
        if self.unsupported is None:
            piece_len = max(16, round(cfg.fluidity_piece_s * self.rate_hz))
            self._sos = lowpass_sos(cfg.fluidity_cutoff_hz, self.rate_hz)
            self._welch = WelchAccumulator(self.rate_hz, cfg.tremor_window_s)
        self._stroke = _Stroke(piece_len)

    @property
    def t_last(self) -> float | None:
        """Time of the latest accepted sample."""
        return self._t_last

    @property
    def buffered_samples(self) -> int:
        """How many samples the core holds (bounded: memory does not grow with time)."""
        pend = 0 if self._pend is None else int(self._pend[0].shape[0])
        welch = 0 if self._welch is None else self._welch.buffered
        return pend + self._stroke.k + welch

    # ------------------------------------------------------------------ input

    def push(
        self,
        t: F64,
        tip: F64,
        barrel: F64 | None = None,
        saturated: Bools | None = None,
    ) -> None:
        """Add samples.

        Args:
            t: sample times (s), increasing.
            tip: tip force per sample.
            barrel: barrel grip (sum of the pads) per sample, if the pen has them.
            saturated: True where the tip reading was at full scale or off its calibration.
        """
        t = np.asarray(t, dtype=np.float64)
        tip = np.asarray(tip, dtype=np.float64)
        n_in = int(t.shape[0])
        sat = (
            np.zeros(n_in, dtype=np.bool_)
            if saturated is None
            else np.asarray(saturated, dtype=np.bool_)
        )
        bar = None
        if barrel is not None and self.barrel_unit is not None:
            bar = np.asarray(barrel, dtype=np.float64)
        ok = np.isfinite(t) & np.isfinite(tip)
        if bar is not None:
            ok &= np.isfinite(bar)
        # NaN samples are dropped (a gap); so are samples not later than every earlier one
        prev = -math.inf if self._t_last is None else self._t_last
        before = np.maximum.accumulate(np.concatenate(([prev], np.where(ok, t, -math.inf))))
        keep = ok & (t > before[:-1])
        if not np.all(keep):
            self.n_dropped += n_in - int(np.count_nonzero(keep))
            t, tip, sat = t[keep], tip[keep], sat[keep]
            bar = None if bar is None else bar[keep]
        if t.shape[0] == 0:
            return
        self.n_samples += int(t.shape[0])
        if self._t_first is None:
            self._t_first = float(t[0])
            self._bins = BinSet(self._t_first, self.config.bin_s)
        self._t_last = float(t[-1])
        self._sat_any += int(np.count_nonzero(sat))
        if self.unsupported:
            return
        self.seg.push(t, tip)
        if self._pend is not None:
            pt, px, pb, ps = self._pend
            t = np.concatenate((pt, t))
            tip = np.concatenate((px, tip))
            bar = None if bar is None or pb is None else np.concatenate((pb, bar))
            sat = np.concatenate((ps, sat))
        self._pend = (t, tip, bar, sat)
        self._drain(self.seg.final_before)

    def finish(self) -> None:
        """End of recording: close the open stroke and flush every pending sample."""
        if self._finished:
            return
        self._finished = True
        if self.unsupported or self._t_last is None:
            return
        self.seg.finish(self._t_last + 1.0 / self.rate_hz)
        self._drain(math.inf)

    # ------------------------------------------------------------ processing

    def _drain(self, before: float) -> None:
        """Process the pending samples earlier than ``before`` (their labels are final)."""
        assert self._pend is not None
        t, tip, bar, sat = self._pend
        k = int(np.searchsorted(t, before, side="left"))
        if k:
            self._consume(t[:k], tip[:k], None if bar is None else bar[:k], sat[:k])
            self._pend = (t[k:], tip[k:], None if bar is None else bar[k:], sat[k:])
        self._consumed_until = before
        st = self._stroke
        if st.open and math.isfinite(st.end) and st.end <= before:
            self._close_stroke()
        if self._bins is not None and k:
            self._bins.advance(float(t[k - 1]))

    def _consume(self, t: F64, tip: F64, bar: F64 | None, sat: Bools) -> None:
        t_end = float(t[-1])
        for ref in list(self.seg.strokes):
            start, end = ref
            if start > t_end:
                break
            a, b = (int(i) for i in np.searchsorted(t, [start, end], side="left"))
            if b <= a:
                continue
            if not (self._stroke.open and self._stroke.ref is ref):
                self._close_stroke()
                self._open_stroke(ref)
            self._down(t[a:b], tip[a:b], None if bar is None else bar[a:b], sat[a:b])

    def _open_stroke(self, ref: list[float]) -> None:
        assert self._bins is not None
        start = ref[0]
        self._stroke.begin(ref)
        self._n_strokes += 1
        if self._first_start is None:
            self._first_start = start
        if self._last_end is not None:
            self._in_air += start - self._last_end
            self._bins.add_interval(self._last_end, start, on_paper=False)
        self._bins.add_stroke(start)

    def _down(self, t: F64, tip: F64, bar: F64 | None, sat: Bools) -> None:
        assert self._bins is not None and self._welch is not None
        n = int(t.shape[0])
        self._tip.add(tip)
        if bar is not None:
            self._barrel.add(bar)
        self._down_samples += n
        self._sat_down += int(np.count_nonzero(sat))
        self._bins.add_down_samples(t, tip, bar)
        st = self._stroke
        st.tip.add(tip)
        self._welch.add_segment_samples(tip)
        i = 0
        size = st.piece.shape[0]
        while i < n:
            take = min(size - st.k, n - i)
            st.piece[st.k : st.k + take] = tip[i : i + take]
            st.k += take
            i += take
            if st.k == size:
                self._fluidity_piece()

    def _fluidity_piece(self) -> None:
        st = self._stroke
        x = st.piece[: st.k]
        st.k = 0
        if x.shape[0] < 4 or self._sos is None:
            return
        mean = float(np.mean(x))
        self._fluid_time += x.shape[0] / self.rate_hz
        if mean <= 0.0:
            return
        y = zero_lag(self._sos, x)
        prom = self.config.fluidity_prominence * mean
        peaks = signal.find_peaks(y, prominence=prom)[0].shape[0]
        troughs = signal.find_peaks(-y, prominence=prom)[0].shape[0]
        self._inversions += int(peaks + troughs)

    def _close_stroke(self) -> None:
        st = self._stroke
        if not st.open:
            return
        assert self._bins is not None and self._welch is not None
        st.open = False
        self._fluidity_piece()
        self._welch.end_segment()
        dur = st.end - st.start
        self._on_paper += dur
        self._bins.add_interval(st.start, st.end, on_paper=True)
        self._last_end = st.end
        mean = st.tip.mean()
        if mean is not None:
            self._stroke_mean.add_one(mean)
        if st.tip.n >= self.config.min_stroke_samples:
            cv = st.tip.cv()
            if cv is not None:
                self._stroke_cv.add_one(cv)
        if self.seg.strokes and self.seg.strokes[0] is st.ref:
            self.seg.strokes.pop(0)

    # ---------------------------------------------------------------- output

    def summary(self) -> PenSummary:
        """Return every metric from what was pushed so far (final after :meth:`finish`)."""
        cfg = self.config
        units: dict[str, str | None] = {"tip": self.tip_unit, "barrel": self.barrel_unit}
        duration = (
            (self._t_last - self._t_first + 1.0 / self.rate_hz)
            if self._t_first is not None and self._t_last is not None and self.rate_hz > 0
            else 0.0
        )
        quality: dict[str, object] = {
            "samples": self.n_samples,
            "dropped_samples": self.n_dropped,
            "saturated_samples": self._sat_any,
            "duration_s": present(duration, SECOND),
            "final": self._finished,
        }
        why = self.unsupported
        if why is None and self.n_samples == 0:
            why = "no samples"
        if why is None and self._n_strokes == 0:
            why = (
                f"no pen-down detected (tip never reached {cfg.on:g} {cfg.threshold_unit} "
                f"for {1000 * cfg.min_stroke_s:g} ms)"
            )
        if why is not None:
            return self._all_absent(units, quality, why)
        # live: count the open stroke up to the samples processed so far
        on_paper, last_end = self._on_paper, self._last_end
        st = self._stroke
        if st.open and self._t_last is not None:
            upto = min(st.end, self._consumed_until, self._t_last + 1.0 / self.rate_hz)
            on_paper += max(0.0, upto - st.start)
            last_end = upto
        assert self._first_start is not None and last_end is not None
        writing = last_end - self._first_start
        lifts = self._n_strokes - 1
        minutes = writing / 60.0
        timing = {
            "strokes": present(self._n_strokes, COUNT),
            "pen_lifts": present(lifts, COUNT),
            "on_paper_s": present(on_paper, SECOND),
            "in_air_s": present(self._in_air, SECOND),
            "in_air_ratio": maybe(
                self._in_air / on_paper if on_paper > 0 else None, RATIO, "no on-paper time"
            ),
            "writing_time_s": present(writing, SECOND),
            "strokes_per_min": maybe(
                self._n_strokes / minutes if minutes > 0 else None, PER_MINUTE, "no writing time"
            ),
            "lifts_per_min": maybe(
                lifts / minutes if minutes > 0 else None, PER_MINUTE, "no writing time"
            ),
        }
        force = self._force_metrics()
        tremor = tremor_metrics(self._welch, cfg, cfg.task) if self._welch else {}
        barrel = self._barrel_metrics(force)
        rows = (
            self._bins.rows(self._t_last + 1.0 / self.rate_hz)
            if self._bins and self._t_last is not None
            else []
        )
        endurance = endurance_summary(rows, cfg.min_bin_s, self.tip_unit, self.barrel_unit)
        return PenSummary(self.rate_hz, units, quality, timing, force, tremor, barrel, endurance)

    def _saturation_reason(self) -> str | None:
        if self._down_samples and self._sat_down > SATURATION_LIMIT * self._down_samples:
            share = 100.0 * self._sat_down / self._down_samples
            return (
                f"tip sensor saturated in {self._sat_down} of {self._down_samples} pen-down "
                f"samples ({share:.1f}%): forces are underestimated"
            )
        return None

    def _force_metrics(self) -> dict[str, Metric]:
        sat = self._saturation_reason()
        note = None
        if self._sat_down and sat is None:
            note = f"{self._sat_down} pen-down sample(s) saturated"
        raw_why = "tip channel is uncalibrated: force in newtons needs a calibration"
        newtons = self.tip_unit == "N"

        def force(v: float | None, why: str) -> Metric:
            if sat:
                return absent(NEWTON, sat)
            if not newtons:
                return absent(NEWTON, raw_why)
            return maybe(v, NEWTON, why, note)

        def unitless(v: float | None, unit: str, why: str) -> Metric:
            if sat:
                return absent(unit, sat)
            return maybe(v, unit, why, note)

        fluid = self._inversions / self._fluid_time if self._fluid_time > 0 else None
        return {
            "mean": force(self._tip.mean(), "no pen-down samples"),
            "sd": force(self._tip.sd(), "needs at least 2 pen-down samples"),
            "cv": unitless(self._tip.cv(), PERCENT, "mean force is not positive"),
            "within_stroke_cv": unitless(
                self._stroke_cv.mean(),
                PERCENT,
                f"no stroke with at least {self.config.min_stroke_samples} samples",
            ),
            "between_stroke_cv": unitless(
                self._stroke_mean.cv(), PERCENT, "needs at least 2 strokes"
            ),
            "fluidity": maybe(
                fluid,
                PER_SECOND,
                "no pen-down samples",
                "force inversions per second of pen-down time (fewer = more fluent)",
            ),
        }

    def _barrel_metrics(self, force: dict[str, Metric]) -> dict[str, Metric]:
        if self.barrel_unit is None:
            why = "no barrel channels in this recording"
            return {
                "mean": absent(NEWTON, why),
                "cv": absent(PERCENT, why),
                "grip_to_axial": absent(RATIO, why),
            }
        mean = self._barrel.mean()
        cv = self._barrel.cv()
        raw_why = "barrel pads are uncalibrated: force in newtons needs a calibration"
        if self.barrel_unit == "N":
            m = maybe(mean, NEWTON, "no pen-down samples")
        else:
            m = absent(NEWTON, raw_why)
        c = maybe(cv, PERCENT, "mean barrel reading is not positive")
        if self.barrel_unit != "N":
            c = Metric(
                c.value,
                c.unit,
                c.reason,
                "raw FSR readings: a trend indicator" if c.present else None,
            )
        tip_mean = force["mean"].value
        if self.barrel_unit != "N" or self.tip_unit != "N":
            ratio = absent(RATIO, "needs tip and barrel pads calibrated in newtons")
        elif mean is None or tip_mean is None or tip_mean <= 0:
            ratio = absent(RATIO, force["mean"].reason or "tip force is not positive")
        else:
            ratio = present(mean / tip_mean, RATIO)
        return {"mean": m, "cv": c, "grip_to_axial": ratio}

    def _all_absent(
        self, units: dict[str, str | None], quality: dict[str, object], why: str
    ) -> PenSummary:
        timing = {
            k: absent(u, why)
            for k, u in (
                ("strokes", COUNT),
                ("pen_lifts", COUNT),
                ("on_paper_s", SECOND),
                ("in_air_s", SECOND),
                ("in_air_ratio", RATIO),
                ("writing_time_s", SECOND),
                ("strokes_per_min", PER_MINUTE),
                ("lifts_per_min", PER_MINUTE),
            )
        }
        force = {
            k: absent(u, why)
            for k, u in (
                ("mean", NEWTON),
                ("sd", NEWTON),
                ("cv", PERCENT),
                ("within_stroke_cv", PERCENT),
                ("between_stroke_cv", PERCENT),
                ("fluidity", PER_SECOND),
            )
        }
        tremor = {
            k: absent(u, why)
            for k, u in (
                ("share_4_12", RATIO),
                ("share_8_12", RATIO),
                ("peak_hz_4_12", "Hz"),
                ("peak_hz_8_12", "Hz"),
                ("windows", COUNT),
            )
        }
        barrel = {
            "mean": absent(NEWTON, why),
            "cv": absent(PERCENT, why),
            "grip_to_axial": absent(RATIO, why),
        }
        endurance = Endurance.absent(why)
        return PenSummary(self.rate_hz, units, quality, timing, force, tremor, barrel, endurance)
