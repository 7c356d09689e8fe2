"""One grip trial's metrics, from its closed segment of force samples (zero-lag filtered).

The segment runs from up to ``pre_s`` before the trigger to shortly after release. Every
definition here is in docs/metrics.md (Grip).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from finemotor.metrics.config import GripConfig, GripContext
from finemotor.metrics.filters import zero_lag
from finemotor.metrics.results import (
    NEWTON,
    NEWTON_PER_S,
    PERCENT,
    RATIO,
    SECOND,
    Metric,
    absent,
    maybe,
    present,
)
from finemotor.metrics.stats import detrend_linear

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

TrialKind = Literal["squeeze", "hold"]


@dataclass(frozen=True)
class GripTrial:
    """Metrics of one squeeze or hold.

    Attributes:
        index: 0-based order in the recording.
        hand: which hand (from the session context).
        task: the session's task for this trial.
        kind: ``squeeze`` or ``hold`` (a sustained hold: hold metrics and steadiness).
        flags: ``truncated_start``, ``truncated_end``, ``cut_at_max_length``, ``saturated``.
        onset_s, offset_s: times since the recording's first sample.
        duration_s: offset minus onset.
        peak: peak force of the signal the trial is measured on (zero-lag filtered, or the
            despiked samples when ``GripConfig.filter_trials`` is False; N, shown in kgf too).
        peak_unfiltered: the largest despiked sample between onset and offset.
        baseline: the force before the squeeze.
        time_to_peak_s: time of the unfiltered peak (first despiked sample at it) minus onset.
        rfd_20_80: rate of force development between 20% and 80% of peak.
        rfd: RFD over 0-50/100/200 ms from onset (needs ≥500 Hz).
        hold: static fatigue index, FR75/50/25, sustained ratio (holds only).
        steadiness: CV of the detrended central window, mean, error to target (holds only).
        onset_threshold: the level whose crossing is the onset (the signal's unit).
        definitions: how onset, baseline, peak and RFD were taken for this trial, with the
            numbers used (the onset threshold...).
        level: peak above baseline in the signal's own unit (N or raw), for unit-free
            aggregates; not part of the JSON.
    """

    index: int
    hand: str
    task: str
    kind: TrialKind
    flags: tuple[str, ...]
    onset_s: Metric
    offset_s: Metric
    duration_s: Metric
    peak: Metric
    baseline: Metric
    time_to_peak_s: Metric
    rfd_20_80: Metric
    rfd: dict[str, Metric]
    hold: dict[str, Metric] | None
    steadiness: dict[str, Metric] | None
    peak_unfiltered: Metric = field(default_factory=lambda: absent(NEWTON, "not measured"))
    onset_threshold: Metric = field(default_factory=lambda: absent(NEWTON, "not measured"))
    definitions: dict[str, str] = field(default_factory=dict)
    level: float | None = field(default=None, metadata={"json": False})


def despike(x: F64, half: int = 3, k: float = 3.0) -> F64:
    """Replace isolated spikes and dips by the local median (Hampel filter).

    A sample is replaced when it is more than ``k`` robust SDs (1.4826 x MAD) from the median
    of the ``2·half + 1`` samples around it. Monotone runs, steps, plateaus and the top of a
    smooth peak are kept exactly; a lone sample off a flat run is replaced.
    """
    n = x.shape[0]
    if n < 3:
        return x.astype(np.float64, copy=True)
    w = sliding_window_view(np.pad(x.astype(np.float64), half, mode="edge"), 2 * half + 1)
    med = np.median(w, axis=1)
    mad = np.median(np.abs(w - med[:, None]), axis=1)
    out: F64 = np.where(np.abs(x - med) > k * 1.4826 * mad, med, x)
    return out


def noise_sd(y: F64) -> float:
    """Robust noise SD from second differences (a smooth rise barely moves it)."""
    if y.shape[0] < 5:
        return 0.0
    d2 = np.diff(y, 2)
    return 1.4826 * float(np.median(np.abs(d2 - np.median(d2)))) / math.sqrt(6.0)


def _onset(y: F64, i_pk: int, base: float, sd: float, cfg: GripConfig) -> int:
    """The first sample of the rise to the peak above the onset threshold."""
    thr = base + max(cfg.onset_sd * sd, cfg.onset_peak_fraction * (float(y[i_pk]) - base))
    before = np.flatnonzero(y[:i_pk] <= thr)
    return int(before[-1]) + 1 if before.shape[0] else 0


def _definitions(cfg: GripConfig, base_rule: str, by_sd: bool) -> dict[str, str]:
    signal = (
        f"zero-lag {cfg.lowpass_hz:g} Hz low-pass of the despiked samples (Hampel filter)"
        if cfg.filter_trials
        else "the recorded samples, isolated spikes and dips removed (Hampel filter)"
    )
    by = f"{cfg.onset_sd:g} SD" if by_sd else f"{100 * cfg.onset_peak_fraction:g}% of peak"
    return {
        "signal": signal,
        "trigger": cfg.trigger_rule or "absolute: on and off at fixed force levels",
        "baseline": base_rule,
        "onset": (
            f"the rise crosses onset_threshold = baseline + max({cfg.onset_sd:g} SD of the "
            f"baseline, {100 * cfg.onset_peak_fraction:g}% of peak above baseline), here "
            f"{by}; interpolated between samples"
        ),
        "peak": (
            "maximum of the signal; peak_unfiltered: largest despiked sample from onset to "
            "offset; time_to_peak: from onset to that sample"
        ),
        "rfd_20_80": "0.6 x (peak - baseline) / (t80 - t20), interpolated crossings",
    }


def _crossing(t: F64, y: F64, level: float, start: int, stop: int, rising: bool) -> float | None:
    """Time the signal first reaches ``level`` in ``[start, stop)``, interpolated."""
    seg = y[start:stop]
    hits = np.flatnonzero(seg >= level) if rising else np.flatnonzero(seg <= level)
    if hits.shape[0] == 0:
        return None
    j = start + int(hits[0])
    if j == 0 or y[j] == y[j - 1]:
        return float(t[j])
    frac = (level - float(y[j - 1])) / (float(y[j]) - float(y[j - 1]))
    frac = min(max(frac, 0.0), 1.0)
    return float(t[j - 1] + frac * (t[j] - t[j - 1]))


def measure_trial(
    t: F64,
    f: F64,
    saturated: Bools,
    *,
    trigger_t: float,
    t0: float,
    index: int,
    context: GripContext,
    rate_hz: float,
    sos: F64,
    config: GripConfig,
    unit: str,
    flags: tuple[str, ...] = (),
) -> GripTrial:
    """Measure one trial from its segment.

    Args:
        t: sample times of the segment.
        f: force (N or raw) of the segment.
        saturated: True where the reading was at full scale or off its calibration.
        trigger_t: when the live trigger fired.
        t0: the recording's first sample time (reported times are relative to it).
        index: the trial's order in the recording.
        context: hand and task in force when the trial started.
        rate_hz: nominal sampling rate.
        sos: the zero-lag low-pass.
        config: thresholds.
        unit: ``"N"`` or ``"raw"`` (raw: force-valued metrics are absent).
        flags: flags already known (``cut_at_max_length``...).
    """
    cfg = config
    x = despike(f)
    y = zero_lag(sos, x) if cfg.filter_trials else x
    flag_list = list(flags)
    peak = float(np.max(y))
    # the first sample at the peak (a flat top's float jitter does not move it)
    i_pk = int(np.argmax(y >= peak - 1e-9 * max(abs(peak), 1.0)))
    pre = t < trigger_t - cfg.baseline_guard_s
    n_pre = int(np.count_nonzero(pre))
    if n_pre >= 3:
        base, sd = float(np.mean(y[pre])), float(np.std(y[pre], ddof=1))
        i_on = _onset(y, i_pk, base, sd, cfg)
        base_rule = f"mean of the segment up to {cfg.baseline_guard_s:g} s before the trigger"
    else:
        # too little before the trigger (a recording that starts just before the rise): the
        # noise from second differences, the lowest level before the peak, then the mean of
        # the samples before the onset within 4 noise SDs of that level (the foot of the rise
        # is left out)
        low, sd = float(np.min(y[: i_pk + 1])), noise_sd(y[: i_pk + 1])
        base = low
        i_on = _onset(y, i_pk, base, sd, cfg)
        if i_on >= 1:
            head = y[:i_on]
            base = float(np.mean(head[head <= low + 4.0 * sd]))
            i_on = _onset(y, i_pk, base, sd, cfg)
        base_rule = (
            "mean of the samples before the onset within 4 noise SDs of their lowest level "
            "(too few samples before the trigger)"
        )
    amp = peak - base
    thr = base + max(cfg.onset_sd * sd, cfg.onset_peak_fraction * amp)
    if i_on == 0 and "truncated_start" not in flag_list:
        flag_list.append("truncated_start")
    after = np.flatnonzero(y[i_pk:] <= thr)
    i_off = i_pk + int(after[0]) if after.shape[0] else None
    if i_off is None:
        flag_list.append("truncated_end")
    sat_span = saturated[i_on : (i_off if i_off is not None else t.shape[0])]
    n_sat = int(np.count_nonzero(sat_span))
    if n_sat:
        flag_list.append("saturated")
    t_on = _crossing(t, y, thr, i_on, i_pk + 1, rising=True) if i_on else None
    t_on = float(t[i_on]) if t_on is None else t_on
    span = x[i_on : (i_off if i_off is not None else t.shape[0]) + 1]
    raw_top = float(np.max(span))
    # the first despiked sample at that maximum: time to peak (a filter moves a corner)
    i_raw = i_on + int(np.argmax(span >= raw_top - 1e-9 * max(abs(raw_top), 1.0)))
    peak_raw = raw_top
    t_off = float(t[i_off]) if i_off is not None else float(t[-1])
    duration = t_off - t_on
    kind: TrialKind = "squeeze"
    if context.task in ("hold", "steady") or (
        context.task == "auto" and duration >= cfg.hold_min_s
    ):
        kind = "hold"
    newtons = unit == NEWTON
    raw_why = "channel is uncalibrated: force in newtons needs a calibration"
    sat_why = (
        f"sensor saturated in {n_sat} sample(s) of this trial: the true peak is higher "
        "than recorded"
    )

    def force(v: float | None, u: str, why: str, kgf: bool = False) -> Metric:
        if n_sat:
            return absent(u, sat_why)
        if not newtons:
            return absent(u, raw_why)
        m = maybe(v, u, why)
        return Metric(m.value, m.unit, m.reason, m.note, "kgf" if kgf else None)

    def shape(v: float | None, u: str, why: str) -> Metric:
        return absent(u, sat_why) if n_sat else maybe(v, u, why)

    # rate of force development
    t20 = _crossing(t, y, base + 0.2 * amp, i_on, i_pk + 1, rising=True)
    t80 = _crossing(t, y, base + 0.8 * amp, i_on, i_pk + 1, rising=True)
    rfd2080 = None
    if t20 is not None and t80 is not None and t80 > t20 and amp > 0:
        rfd2080 = 0.6 * amp / (t80 - t20)
    rfd: dict[str, Metric] = {}
    for w in cfg.rfd_windows_s:
        name = f"0_{round(1000 * w)}ms"
        if rate_hz < cfg.rfd_min_rate_hz:
            rfd[name] = absent(
                NEWTON_PER_S,
                f"needs ≥{cfg.rfd_min_rate_hz:g} Hz sampling, recording is {rate_hz:g} Hz",
            )
        elif t_on + w > float(t[-1]):
            rfd[name] = absent(NEWTON_PER_S, "trial shorter than the window")
        else:
            fw = float(np.interp(t_on + w, t, y))
            rfd[name] = force((fw - float(np.interp(t_on, t, y))) / w, NEWTON_PER_S, "")
    hold = steady = None
    if kind == "hold":
        hold, steady = _hold_metrics(t, y, t_on, i_pk, i_off, base, context, cfg, unit)
        if n_sat:
            hold = {k: absent(m.unit, sat_why) for k, m in hold.items()}
            steady = {k: absent(m.unit, sat_why) for k, m in steady.items()}
    return GripTrial(
        index=index,
        hand=context.hand,
        task=context.task,
        kind=kind,
        flags=tuple(flag_list),
        onset_s=present(t_on - t0, SECOND),
        offset_s=maybe(
            t_off - t0 if i_off is not None else None,
            SECOND,
            "the recording ended before the release",
        ),
        duration_s=maybe(
            duration if i_off is not None else None,
            SECOND,
            "the recording ended before the release",
        ),
        peak=force(peak, NEWTON, "", kgf=True),
        peak_unfiltered=force(peak_raw, NEWTON, "", kgf=True),
        baseline=force(base, NEWTON, ""),
        time_to_peak_s=shape(float(t[i_raw]) - t_on, SECOND, ""),
        rfd_20_80=force(rfd2080, NEWTON_PER_S, "force did not rise through 20-80% of peak"),
        rfd=rfd,
        hold=hold,
        steadiness=steady,
        onset_threshold=shape(thr, unit, ""),
        definitions=_definitions(
            cfg, base_rule, cfg.onset_sd * sd >= cfg.onset_peak_fraction * amp
        ),
        level=None if n_sat else peak,
    )


def _hold_metrics(
    t: F64,
    y: F64,
    t_on: float,
    i_pk: int,
    i_off: int | None,
    base: float,
    context: GripContext,
    cfg: GripConfig,
    unit: str,
) -> tuple[dict[str, Metric], dict[str, Metric]]:
    t_pk = float(t[i_pk])
    peak = float(y[i_pk])
    t_off = float(t[i_off]) if i_off is not None else float(t[-1])
    # end of the hold: the protocol's duration, or the start of the release
    if context.hold_s is not None:
        t_end = min(t_on + context.hold_s, t_off)
    else:
        ref_win = (t >= t_off - 1.5) & (t < t_off - 0.75)
        t_end = t_off
        if i_off is not None and np.any(ref_win):
            ref = base + 0.9 * (float(np.median(y[ref_win])) - base)
            cand = np.flatnonzero((t < t_off) & (y >= ref))
            if cand.shape[0]:
                # back off by the filter's settling time: the zero-lag filter starts the
                # release slightly early
                t_end = max(t_pk, float(t[cand[-1]]) - 1.0 / cfg.lowpass_hz)
    i_end = int(np.searchsorted(t, t_end, side="right"))
    hold: dict[str, Metric] = {"hold_s": present(t_end - t_on, SECOND)}
    tail = (t >= t_end - cfg.fatigue_tail_s) & (t <= t_end)
    if t_end - t_pk >= cfg.fatigue_tail_s - 1e-9 and peak > 0:
        tail_mean = float(np.mean(y[tail]))
        hold["static_fatigue_index"] = present(100.0 * (peak - tail_mean) / peak, PERCENT)
    else:
        hold["static_fatigue_index"] = absent(
            PERCENT, f"hold after the peak is shorter than {cfg.fatigue_tail_s:g} s"
        )
    for lvl in cfg.fr_levels:
        name = f"fr{round(100 * lvl)}_s"
        tc = _crossing(t, y, lvl * peak, i_pk, i_end, rising=False)
        hold[name] = maybe(
            None if tc is None else tc - t_pk,
            SECOND,
            f"force stayed above {100 * lvl:g}% of peak for the whole hold "
            f"({t_end - t_pk:.1f} s after the peak)",
        )
    if i_end > i_pk and peak > 0:
        hold["sustained_ratio"] = present(float(np.mean(y[i_pk:i_end])) / peak, RATIO)
    else:
        hold["sustained_ratio"] = absent(RATIO, "no hold after the peak")
    # steadiness: the central window of the held part (from first reaching 90% of the
    # hold's median force to the end of the hold), linearly detrended
    held = (t >= t_on) & (t <= t_end)
    t_hold = t_on
    if np.any(held):
        level90 = 0.9 * float(np.median(y[held]))
        reach = np.flatnonzero(held & (y >= level90))
        if reach.shape[0]:
            t_hold = float(t[reach[0]])
    span = t_end - t_hold
    c = cfg.steady_central_fraction
    lo, hi = t_hold + 0.5 * (1 - c) * span, t_hold + 0.5 * (1 + c) * span
    win = (t >= lo) & (t <= hi)
    steady: dict[str, Metric] = {}
    if np.count_nonzero(win) >= 10:
        tw, yw = t[win], y[win]
        level = float(np.mean(yw))
        resid = detrend_linear(tw, yw)
        cv = 100.0 * float(np.std(resid, ddof=1)) / level if level > 0 else None
        steady["cv"] = maybe(cv, PERCENT, "mean force of the window is not positive")
        if unit == NEWTON:
            steady["mean"] = present(level, NEWTON)
        else:
            steady["mean"] = absent(NEWTON, "channel is uncalibrated")
        if context.target is not None and unit == NEWTON and context.target > 0:
            steady["target_error"] = present(
                100.0 * (level - context.target) / context.target, PERCENT
            )
        else:
            steady["target_error"] = absent(PERCENT, "no target force in newtons given")
    else:
        why = "hold too short for a central window of 10 samples"
        steady = {
            "cv": absent(PERCENT, why),
            "mean": absent(NEWTON, why),
            "target_error": absent(PERCENT, why),
        }
    return hold, steady
