"""Grip metrics, streaming: trial detection live and offline with one code path.

A causal low-pass (state carried between blocks) feeds a two-threshold trigger; each trial's
segment (``pre_s`` before the trigger to ``merge_gap_s`` after release) is kept until the
trial closes, then measured with zero-lag filtering (:mod:`finemotor.metrics.grip_trial`).
Memory: the last ``pre_s`` of samples, the open trial (at most ``max_trial_s``) and the
trials' results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from finemotor.metrics.config import (
    EPS_S,
    ForceUnit,
    GripConfig,
    GripContext,
    rate_or_unit_problem,
)
from finemotor.metrics.endurance import pinch_change
from finemotor.metrics.filters import CausalFilter, lowpass_sos
from finemotor.metrics.grip_trial import GripTrial, measure_trial
from finemotor.metrics.hysteresis import hysteresis, transitions
from finemotor.metrics.norms import NO_TABLE, NormTable
from finemotor.metrics.results import (
    COUNT,
    KGF_N,
    NEWTON,
    PERCENT,
    PERCENT_PER_SQUEEZE,
    SECOND,
    Metric,
    absent,
    present,
)
from finemotor.metrics.stats import slope

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class GripSummary:
    """Every grip metric of a recording (or of the recording so far).

    Attributes:
        rate_hz: nominal sampling rate.
        unit: unit of the force signal (``"N"`` or ``"raw"``).
        quality: sample counts, dropped and saturated samples, notes.
        trials: each detected trial, in order.
        hands: per hand: mean and max of 3, CV across trials, repeated-squeeze fatigue.
        pinch: pinch strength before vs after a writing task.
        reason: why there are no trials, if so.
    """

    rate_hz: float
    unit: str
    quality: dict[str, object]
    trials: list[GripTrial]
    hands: dict[str, dict[str, Metric]]
    pinch: dict[str, Metric]
    reason: str | None


class _Mode(Enum):
    IDLE = 0
    ACTIVE = 1
    RELEASING = 2
    WAIT = 3  # cut at max length; waiting for the release


class _History:
    """Recent samples as a list of arrays, trimmed from the front."""

    def __init__(self) -> None:
        self.parts: list[tuple[F64, F64, Bools]] = []

    def append(self, t: F64, f: F64, s: Bools) -> None:
        self.parts.append((t, f, s))

    def trim_before(self, t_min: float) -> None:
        while self.parts and self.parts[0][0][-1] < t_min:
            self.parts.pop(0)
        if self.parts:
            t, f, s = self.parts[0]
            k = int(np.searchsorted(t, t_min, side="left"))
            if k:
                self.parts[0] = (t[k:], f[k:], s[k:])

    def slice(self, lo: float, hi: float) -> tuple[F64, F64, Bools]:
        ts, fs, ss = [], [], []
        for t, f, s in self.parts:
            if t[-1] < lo or t[0] >= hi:
                continue
            a, b = np.searchsorted(t, [lo, hi], side="left")
            ts.append(t[a:b])
            fs.append(f[a:b])
            ss.append(s[a:b])
        if not ts:
            return np.empty(0), np.empty(0), np.empty(0, dtype=np.bool_)
        return np.concatenate(ts), np.concatenate(fs), np.concatenate(ss)


class GripCore:
    """Streaming grip metrics over calibrated (or raw) force arrays."""

    def __init__(
        self,
        rate_hz: float,
        config: GripConfig | None = None,
        unit: ForceUnit = "N",
        norms: NormTable | None = None,
        student: tuple[float, str] | None = None,
    ) -> None:
        """Set up the metrics.

        Args:
            rate_hz: nominal sampling rate.
            config: thresholds and settings (defaults: docs/metrics.md).
            unit: unit of the force given to :meth:`push`.
            norms: a normative table with its provenance (none ships with finemotor).
            student: (age in years, sex) for the normative comparison.
        """
        self.config = cfg = config or GripConfig()
        self.rate_hz = float(rate_hz)
        self.unit = unit
        self.norms = norms
        self.student = student
        self.unsupported = rate_or_unit_problem(
            self.rate_hz, cfg.min_rate_hz, cfg.threshold_unit, unit, "trial trigger thresholds"
        )
        self._sos = lowpass_sos(cfg.lowpass_hz, self.rate_hz) if self.unsupported is None else None
        self._causal = CausalFilter(self._sos) if self._sos is not None else None
        self._raw = False
        self._mode = _Mode.IDLE
        self._trigger = self._fall = self._seg_start = math.nan
        self._prev_close = -math.inf
        self._cut = False
        self._hist = _History()
        self._contexts: list[tuple[float, GripContext]] = [(-math.inf, GripContext())]
        self.trials: list[GripTrial] = []
        self.n_samples = 0
        self.n_dropped = 0
        self.n_saturated = 0
        self._t_first: float | None = None
        self._t_last: float | None = None
        self._finished = False
        self.started_squeezing = False
        self._max_seen = -math.inf
        self._open_peak = -math.inf  # causal-filtered peak of the squeeze under way
        self._n_short = 0  # triggers released before min_trial_s
        self._seg_first = False  # the next sample starts a segment (after end_segment)

    @property
    def t_last(self) -> float | None:
        """Time of the latest accepted sample."""
        return self._t_last

    @property
    def buffered_samples(self) -> int:
        """How many samples the core holds (at most ``pre_s + max_trial_s`` of them)."""
        return sum(int(p[0].shape[0]) for p in self._hist.parts)

    # ------------------------------------------------------------------ input

    def set_context(self, context: GripContext, t_from: float | None = None) -> None:
        """Say what the student does from device time ``t_from`` (default: from now on).

        Trials take the context in force when their trigger fired.
        """
        if t_from is None:
            t_from = self._t_last if self._t_last is not None else -math.inf
        self._contexts = [c for c in self._contexts if c[0] < t_from] + [(t_from, context)]

    def _context_at(self, t: float) -> GripContext:
        ctx = self._contexts[0][1]
        for t_from, c in self._contexts:
            if t_from <= t:
                ctx = c
        return ctx

    @property
    def current(self) -> float | None:
        """The latest causal-filtered force (live display), None before any sample."""
        return None if self._causal is None else self._causal.last

    def push(self, t: F64, force: F64, saturated: Bools | None = None) -> None:
        """Add samples (times increasing; NaN samples are dropped as a gap)."""
        t = np.asarray(t, dtype=np.float64)
        f = np.asarray(force, dtype=np.float64)
        n_in = int(t.shape[0])
        sat = (
            np.zeros(n_in, dtype=np.bool_)
            if saturated is None
            else np.asarray(saturated, dtype=np.bool_)
        )
        ok = np.isfinite(t) & np.isfinite(f)
        prev = -math.inf if self._t_last is None else self._t_last
        before = np.maximum.accumulate(np.concatenate(([prev], np.where(ok, t, -math.inf))))
        keep = ok & (t > before[:-1])
        if not np.all(keep):
            self.n_dropped += n_in - int(np.count_nonzero(keep))
            t, f, sat = t[keep], f[keep], sat[keep]
        if t.shape[0] == 0:
            return
        self.n_samples += int(t.shape[0])
        self.n_saturated += int(np.count_nonzero(sat))
        first = self._t_first is None or self._seg_first
        self._seg_first = False
        if self._t_first is None:
            self._t_first = float(t[0])
        self._t_last = float(t[-1])
        if self._causal is None:
            return
        y = self._causal.process(f)
        cfg = self.config
        if first and y[0] >= cfg.trigger_on:
            # the recording starts mid-squeeze: no onset to measure; wait for the release
            self._raw, self._mode, self.started_squeezing = True, _Mode.WAIT, True
        states = hysteresis(y, cfg.trigger_on, cfg.trigger_off, self._raw)
        self._hist.append(t, f, sat)
        for i in transitions(states, self._raw):
            tau = float(t[i])
            self._advance(tau)
            if states[i]:
                self._rise(tau)
            else:
                self._fall_at(tau)
        self._raw = bool(states[-1])
        self._advance(self._t_last)
        self._max_seen = max(self._max_seen, float(np.max(y)))
        if self._mode is not _Mode.IDLE:
            since = t >= (self._trigger if self._mode is not _Mode.WAIT else -math.inf)
            if np.any(since):
                self._open_peak = max(self._open_peak, float(np.max(y[since])))
        if self._mode in (_Mode.IDLE, _Mode.WAIT):
            self._hist.trim_before(max(self._t_last - cfg.pre_s, self._prev_close))

    def end_segment(self) -> None:
        """The samples stop here and the next ones are not continuous with them (a gap or a
        clock jump in a file): close an open trial with the data there is (flag
        ``truncated_end``) and start the trigger afresh, so no trial spans the break."""
        if self._t_last is None or self._causal is None or self._sos is None:
            return
        t_end = self._t_last + 1.0 / self.rate_hz
        self._close_open(t_end)
        self._mode, self._raw = _Mode.IDLE, False
        self._causal = CausalFilter(self._sos)
        self._hist = _History()
        self._prev_close = t_end
        self._seg_first = True

    def finish(self) -> None:
        """End of recording: close an open trial with the data there is."""
        if self._finished:
            return
        self._finished = True
        if self._t_last is None or self._causal is None:
            return
        self._close_open(self._t_last + 1.0 / self.rate_hz)

    def _close_open(self, t_end: float) -> None:
        """Close the trial in progress (if any) at the data's end ``t_end``."""
        if self._mode is _Mode.RELEASING:
            self._close(min(self._fall + self.config.merge_gap_s, t_end))
        elif self._mode is _Mode.ACTIVE:
            self._close(t_end)

    # ------------------------------------------------------------ state machine

    def _advance(self, tau: float) -> None:
        cfg = self.config
        if self._mode is _Mode.RELEASING and tau >= self._fall + cfg.merge_gap_s - EPS_S:
            self._close(self._fall + cfg.merge_gap_s)
        if self._mode is _Mode.ACTIVE and tau >= self._trigger + cfg.max_trial_s - EPS_S:
            self._cut = True
            self._close(self._trigger + cfg.max_trial_s)

    def _rise(self, tau: float) -> None:
        if self._mode is _Mode.IDLE:
            self._mode = _Mode.ACTIVE
            self._open_peak = -math.inf
            self._trigger = tau
            self._seg_start = max(tau - self.config.pre_s, self._prev_close)
        elif self._mode is _Mode.RELEASING:
            self._mode = _Mode.ACTIVE

    def _fall_at(self, tau: float) -> None:
        if self._mode is _Mode.ACTIVE:
            self._mode = _Mode.RELEASING
            self._fall = tau
        elif self._mode is _Mode.WAIT:
            self._mode = _Mode.IDLE

    def _close(self, at: float) -> None:
        cfg = self.config
        cut = self._cut
        self._cut = False
        released = self._mode is _Mode.RELEASING
        self._mode = _Mode.WAIT if cut else _Mode.IDLE
        long_enough = cut or not released or self._fall - self._trigger >= cfg.min_trial_s
        if not long_enough:
            # not a trial (a bump or a spike): its samples stay available as the next
            # trial's baseline
            self._n_short += 1
            return
        self._prev_close = at
        t, f, s = self._hist.slice(self._seg_start, at)
        self._hist.trim_before(at)
        if t.shape[0] < 4 or self._sos is None:
            return
        assert self._t_first is not None
        self.trials.append(
            measure_trial(
                t,
                f,
                s,
                trigger_t=self._trigger,
                t0=self._t_first,
                index=len(self.trials),
                context=self._context_at(self._trigger),
                rate_hz=self.rate_hz,
                sos=self._sos,
                config=cfg,
                unit=self.unit,
                flags=("cut_at_max_length",) if cut else (),
            )
        )

    # ---------------------------------------------------------------- output

    def summary(self) -> GripSummary:
        """Return every metric from what was pushed so far (final after :meth:`finish`)."""
        duration = 0.0
        if self._t_first is not None and self._t_last is not None and self.rate_hz > 0:
            duration = self._t_last - self._t_first + 1.0 / self.rate_hz
        quality: dict[str, object] = {
            "samples": self.n_samples,
            "dropped_samples": self.n_dropped,
            "saturated_samples": self.n_saturated,
            "duration_s": present(duration, SECOND),
            "final": self._finished,
            "open_trial": self._mode in (_Mode.ACTIVE, _Mode.RELEASING),
            "started_mid_squeeze": self.started_squeezing,
            "trigger_on": present(self.config.trigger_on, self.config.threshold_unit),
            "trigger_off": present(self.config.trigger_off, self.config.threshold_unit),
        }
        open_trial = self._mode in (_Mode.ACTIVE, _Mode.RELEASING)
        waiting = (
            self._mode is _Mode.WAIT
            and self.started_squeezing
            and not self.trials
            and not self._finished
        )
        if open_trial or waiting:
            quality["peak_so_far"] = present(
                self._open_peak, self.unit, display_unit="kgf" if self.unit == NEWTON else None
            )
        reason = self.unsupported
        if reason is None and self.n_samples == 0:
            reason = "no samples"
        if reason is None and not self.trials:
            reason = self._no_trial_reason(open_trial, waiting)
        hands: dict[str, dict[str, Metric]] = {}
        for hand in sorted({tr.hand for tr in self.trials}):
            hands[hand] = self._hand_metrics([tr for tr in self.trials if tr.hand == hand])
        pre = [tr.level for tr in self.trials if tr.task == "pinch_pre" and tr.level is not None]
        post = [tr.level for tr in self.trials if tr.task == "pinch_post" and tr.level is not None]
        pinch = pinch_change(pre, post, self.unit)
        return GripSummary(
            self.rate_hz, self.unit, quality, list(self.trials), hands, pinch, reason
        )

    def _no_trial_reason(self, open_trial: bool, waiting: bool) -> str:
        cfg = self.config
        u = cfg.threshold_unit
        so_far = f"peak so far {self._open_peak:.4g} {self.unit}"
        if open_trial:
            return f"squeeze in progress ({so_far}): measured when it is released"
        if waiting:
            return (
                f"the squeeze under way started before the recording ({so_far}): its onset "
                "and rise were not recorded, so it is not measured; the next squeeze will be"
            )
        if self.started_squeezing:
            return (
                "the only squeeze started before the recording: its onset and rise were not "
                "recorded, so it is not measured"
            )
        if self._max_seen < cfg.trigger_on:
            return f"no squeeze detected (force never reached {cfg.trigger_on:.4g} {u})"
        return (
            f"no squeeze detected: force reached {cfg.trigger_on:.4g} {u} "
            f"{self._n_short} time(s) but never for {cfg.min_trial_s:g} s"
        )

    def _hand_metrics(self, trials: list[GripTrial]) -> dict[str, Metric]:
        cfg = self.config
        hand = trials[0].hand
        newtons = self.unit == NEWTON
        raw_why = "channel is uncalibrated: force in newtons needs a calibration"
        maxes = [
            tr for tr in trials if tr.task == "max" or (tr.task == "auto" and tr.kind == "squeeze")
        ]
        usable = [tr.level for tr in maxes if tr.level is not None]
        n_sat = len(maxes) - len(usable)
        out: dict[str, Metric] = {"trials": present(len(trials), COUNT)}
        first3 = usable[:3]
        if len(first3) < 3:
            why = f"needs 3 trials (ASHT), {hand} hand has {len(first3)} usable"
            if n_sat:
                why += f" ({n_sat} saturated)"
            for name, unit in (("mean_of_3", NEWTON), ("max_of_3", NEWTON), ("cv", PERCENT)):
                out[name] = absent(unit, why)
        else:
            arr = np.array(first3)
            for name, v in (("mean_of_3", float(np.mean(arr))), ("max_of_3", float(np.max(arr)))):
                out[name] = (
                    Metric(v, NEWTON, display_unit="kgf") if newtons else absent(NEWTON, raw_why)
                )
            mean = float(np.mean(arr))
            out["cv"] = (
                present(100.0 * float(np.std(arr, ddof=1)) / mean, PERCENT)
                if mean > 0
                else absent(PERCENT, "mean peak is not positive")
            )
        out["norm"] = self._norm(out["mean_of_3"], hand)
        reps = [
            tr.level
            for tr in trials
            if (tr.task == "repeated" or (tr.task == "auto" and tr.kind == "squeeze"))
            and tr.level is not None
        ]
        n = len(reps)
        out["squeezes"] = present(n, COUNT)
        if n < cfg.repeated_min_trials:
            why = f"needs ≥{cfg.repeated_min_trials} repeated squeezes, {hand} hand has {n}"
            out["fatigue_index"] = absent(PERCENT, why)
            out["decay_slope"] = absent(PERCENT_PER_SQUEEZE, why)
        else:
            peaks = np.array(reps)
            best = float(np.max(peaks[:3]))
            last = float(np.mean(peaks[-3:]))
            b = slope(np.arange(1.0, n + 1.0), peaks)
            if best > 0:
                out["fatigue_index"] = present(100.0 * (best - last) / best, PERCENT)
                out["decay_slope"] = (
                    present(100.0 * b / best, PERCENT_PER_SQUEEZE)
                    if b is not None
                    else absent(PERCENT_PER_SQUEEZE, "no slope")
                )
            else:
                out["fatigue_index"] = absent(PERCENT, "best squeeze is not positive")
                out["decay_slope"] = absent(PERCENT_PER_SQUEEZE, "best squeeze is not positive")
        return out

    def _norm(self, mean_of_3: Metric, hand: str) -> Metric:
        if self.norms is None:
            return absent("SD", NO_TABLE)
        if self.student is None:
            return absent("SD", "the student's age and sex are needed for a norm")
        if mean_of_3.value is None:
            return absent("SD", mean_of_3.reason or "no mean of 3")
        age, sex = self.student
        return self.norms.z_score(float(mean_of_3.value) / KGF_N, age, sex, hand)
