"""Thresholds and settings of the metrics, with their defaults (docs/metrics.md gives sources)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

ForceUnit = Literal["N", "raw"]
Hand = Literal["left", "right", "unspecified"]
GripTask = Literal[
    "auto", "max", "hold", "repeated", "steady", "rapid", "pinch", "pinch_pre", "pinch_post"
]
PenTask = Literal["free_writing", "copying", "tracing", "unknown"]

EPS_S = 1e-9
"""Tolerance on time comparisons (seconds), so float rounding of timestamps flips no rule."""
GAP_STEPS = 5.0
"""Default largest step within a segment of a timed recording, in nominal sample periods
(:func:`finemotor.metrics.timeline.split`)."""


@dataclass(frozen=True)
class PenConfig:
    """Settings of the pen metrics.

    Attributes:
        on: pen-down threshold on tip force (in ``threshold_unit``).
        off: pen-up threshold (hysteresis: below ``on``).
        threshold_unit: the unit of ``on``/``off``; must match the tip signal's unit.
        min_stroke_s: pen-down spans shorter than this are dropped.
        min_lift_s: lifts shorter than this join the strokes on either side.
        min_rate_hz: pen metrics need at least this sampling rate.
        min_stroke_samples: strokes with fewer samples are left out of within-stroke CV.
        fluidity_cutoff_hz: zero-lag low-pass before counting force inversions.
        fluidity_prominence: an inversion must rise or fall by this fraction of the piece's
            mean force.
        fluidity_piece_s: long strokes are analysed in pieces of this length (bounded memory).
        tremor_window_s: Welch window (and minimum pen-down segment) length.
        tremor_band_hz: the tremor band.
        tremor_narrow_band_hz: the band used on free writing, above the writing strokes.
        tremor_total_band_hz: the reference band for the tremor share.
        bin_s: endurance bin length.
        min_bin_s: shorter (last, partial) bins are shown but left out of slope and decline.
        task: what the student is doing (tremor share is flagged on free writing).
    """

    on: float = 0.15
    off: float = 0.08
    threshold_unit: ForceUnit = "N"
    min_stroke_s: float = 0.020
    min_lift_s: float = 0.030
    min_rate_hz: float = 100.0
    min_stroke_samples: int = 5
    fluidity_cutoff_hz: float = 10.0
    fluidity_prominence: float = 0.10
    fluidity_piece_s: float = 10.0
    tremor_window_s: float = 2.0
    tremor_band_hz: tuple[float, float] = (4.0, 12.0)
    tremor_narrow_band_hz: tuple[float, float] = (8.0, 12.0)
    tremor_total_band_hz: tuple[float, float] = (0.5, 20.0)
    bin_s: float = 60.0
    min_bin_s: float = 30.0
    task: PenTask = "unknown"


@dataclass(frozen=True)
class GripConfig:
    """Settings of the grip metrics.

    Attributes:
        trigger_on: causal-filtered force that starts a trial (in ``threshold_unit``).
        trigger_off: force below which a trial is released.
        threshold_unit: the unit of the trigger thresholds.
        trigger_rule: how the trigger levels were chosen, reported with the results (set by
            :func:`finemotor.metrics.summary.relative_grip_config` for relative levels).
        lowpass_hz: low-pass cut-off (zero-lag for trial metrics, causal for the trigger).
        filter_trials: measure trials on the zero-lag low-passed force; False measures them on
            the recorded samples (isolated single-sample spikes removed), so a brief squeeze's
            peak and rise are not smoothed away.
        min_rate_hz: grip metrics need at least this sampling rate.
        rfd_min_rate_hz: RFD over fixed windows from onset needs at least this rate.
        rfd_windows_s: the RFD windows from onset.
        pre_s: signal kept before the trigger (baseline window).
        baseline_guard_s: the baseline window ends this long before the trigger.
        onset_sd: onset threshold, in baseline SDs above baseline.
        onset_peak_fraction: onset threshold, as a fraction of peak (the larger one is used).
        min_trial_s: shorter triggers are not trials.
        merge_gap_s: a re-trigger within this time of release continues the trial; also
            how long after release the trial's segment runs.
        max_trial_s: trials are cut here (bounded memory).
        hold_min_s: in ``auto`` task, trials at least this long are sustained holds.
        fatigue_tail_s: the end window of a hold for the static fatigue index.
        fr_levels: fatigue-resistance levels (fractions of peak).
        steady_central_fraction: the central part of a hold used for steadiness.
        repeated_min_trials: a repeated-squeeze series needs this many squeezes.
    """

    trigger_on: float = 5.0
    trigger_off: float = 2.5
    threshold_unit: ForceUnit = "N"
    trigger_rule: str = ""
    lowpass_hz: float = 15.0
    filter_trials: bool = True
    min_rate_hz: float = 80.0
    rfd_min_rate_hz: float = 500.0
    rfd_windows_s: tuple[float, ...] = (0.05, 0.1, 0.2)
    pre_s: float = 1.0
    baseline_guard_s: float = 0.2
    onset_sd: float = 3.0
    onset_peak_fraction: float = 0.025
    min_trial_s: float = 0.3
    merge_gap_s: float = 0.25
    max_trial_s: float = 180.0
    hold_min_s: float = 6.0
    fatigue_tail_s: float = 3.0
    fr_levels: tuple[float, ...] = (0.75, 0.5, 0.25)
    steady_central_fraction: float = 0.5
    repeated_min_trials: int = 6


NOMINAL_COUNTS_PER_N = {"stylus": 328_474.0, "grip": 4_380.0}
"""Counts per newton of the reference hardware (hardware/README.md: the tip's FSS1500NSB and
the dynamometer's 100 kg S-beam through a NAU7802). Used only to place the pen-down and trigger
levels on an uncalibrated channel; no newton is ever reported from it."""

RAPID = GripConfig(min_trial_s=0.05, merge_gap_s=0.05, filter_trials=False)
"""Rapid (ballistic) pinches and squeezes of 100-400 ms: trials from 50 ms above the trigger,
measured on the recorded samples (no low-pass), so the peak and the rise are not smoothed."""

GRIP_TASK_RELATIVE: dict[str, tuple[float, float]] = {
    "rapid": (0.2, 0.1),
    "pinch": (0.2, 0.1),
    "pinch_pre": (0.2, 0.1),
    "pinch_post": (0.2, 0.1),
}
"""Tasks whose offline trigger is relative by default: on and off at these fractions of the
recording's range above its resting level (a child's pinch can peak at 2 N)."""


def grip_task_config(task: str, config: GripConfig | None = None) -> GripConfig:
    """Settings for a task: :data:`RAPID` timing for ``rapid``, ``config`` (or the defaults)
    for the others."""
    base = config or GripConfig()
    if task == "rapid":
        return replace(
            base,
            min_trial_s=RAPID.min_trial_s,
            merge_gap_s=RAPID.merge_gap_s,
            filter_trials=RAPID.filter_trials,
        )
    return base


@dataclass(frozen=True)
class GripContext:
    """What the student is doing while squeezing; set by the session, not the data.

    Attributes:
        hand: which hand squeezes.
        task: ``max`` (ASHT trials), ``hold`` (sustained), ``repeated``, ``steady`` (hold a
            target), ``rapid`` (ballistic, 100-400 ms), ``pinch``, ``pinch_pre``/``pinch_post``
            (around a writing task) or ``auto``.
        target: the steadiness target force (N), if any.
        hold_s: the protocol's hold duration (s), if known; otherwise the release is found.
    """

    hand: Hand = "unspecified"
    task: GripTask = "auto"
    target: float | None = None
    hold_s: float | None = None


def rate_or_unit_problem(
    rate_hz: float, min_rate_hz: float, threshold_unit: str, unit: str, thresholds: str
) -> str | None:
    """Why a recording cannot be analysed (a bad or too low rate, thresholds in another unit
    than the signal), or None. ``thresholds`` names them for the message."""
    if not (rate_hz > 0 and math.isfinite(rate_hz)):
        return f"sampling rate must be positive, got {rate_hz}"
    if rate_hz < min_rate_hz:
        return f"needs ≥{min_rate_hz:g} Hz sampling, recording is {rate_hz:g} Hz"
    if threshold_unit != unit:
        return (
            f"the signal is in {unit!r} units but the {thresholds} are in "
            f"{threshold_unit!r}: give the {thresholds} in the signal's units"
        )
    return None
