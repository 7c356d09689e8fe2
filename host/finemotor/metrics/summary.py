"""Offline summaries of whole recordings: the same cores the live engines run.

``summarize_pen`` and ``summarize_grip`` take whole arrays (newtons or raw units);
``summarize_block`` takes a whole-recording :class:`~finemotor.samples.SampleBlock` and the
device's calibration and runs it through the live engine in one go.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from finemotor.calibration.model import DeviceCalibration
from finemotor.metrics.config import (
    GRIP_TASK_RELATIVE,
    ForceUnit,
    GripConfig,
    GripContext,
    PenConfig,
    grip_task_config,
)
from finemotor.metrics.grip import GripCore, GripSummary
from finemotor.metrics.grip_trial import despike
from finemotor.metrics.live import GripEngine, PenEngine
from finemotor.metrics.norms import NormTable
from finemotor.metrics.pen import PenCore, PenSummary
from finemotor.samples import SampleBlock

F64 = npt.NDArray[np.float64]

RAW_PEN_ON = 0.075
RAW_PEN_OFF = 0.04
RAW_GRIP_ON = 0.05
RAW_GRIP_OFF = 0.025


def _top(x: npt.ArrayLike, q: float) -> float:
    v = np.asarray(x, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.percentile(v, q)) if v.shape[0] else 0.0


def raw_pen_config(x: npt.ArrayLike, config: PenConfig | None = None) -> PenConfig:
    """Return pen settings with pen-down thresholds for a raw-unit tip signal.

    Raw readings are taken as tared (zero is no force) but have no newton scale, so the
    thresholds come from the recording: on = 7.5% and off = 4% of its 99th percentile (0.15 N
    and 0.08 N of a 2 N writing force). A signal with no positive part gets thresholds no
    sample reaches.
    """
    top = _top(x, 99.0)
    cfg = config or PenConfig()
    if top <= 0.0:
        return replace(cfg, on=math.inf, off=math.inf, threshold_unit="raw")
    return replace(cfg, on=RAW_PEN_ON * top, off=RAW_PEN_OFF * top, threshold_unit="raw")


def raw_grip_config(x: npt.ArrayLike, config: GripConfig | None = None) -> GripConfig:
    """Return grip settings with a trial trigger for a raw-unit force signal.

    on = 5% and off = 2.5% of the recording's range above its resting level
    (:func:`relative_grip_config`).
    """
    return relative_grip_config(x, RAW_GRIP_ON, RAW_GRIP_OFF, config, "raw")


def relative_grip_config(
    x: npt.ArrayLike,
    on_fraction: float,
    off_fraction: float,
    config: GripConfig | None = None,
    unit: ForceUnit = "N",
) -> GripConfig:
    """Return grip settings whose trigger is relative to the recording (offline only).

    The resting level is the 5th percentile and the top the 99.9th percentile of the
    despiked recording; the trigger is on at rest + ``on_fraction`` x (top - rest) and off at
    rest + ``off_fraction`` x (top - rest). The rule and its numbers are kept in
    ``trigger_rule`` and reported with each trial. A recording with no range gets thresholds
    no sample reaches.
    """
    v = np.asarray(x, dtype=np.float64)
    v = despike(v[np.isfinite(v)])
    cfg = config or GripConfig()
    if v.shape[0] == 0 or float(np.ptp(v)) <= 0.0:
        rule = "relative to the recording's range, which is empty: no trigger"
        return replace(
            cfg,
            trigger_on=math.inf,
            trigger_off=math.inf,
            threshold_unit=unit,
            trigger_rule=rule,
        )
    rest, top = (float(p) for p in np.percentile(v, [5.0, 99.9]))
    on = rest + on_fraction * (top - rest)
    off = rest + off_fraction * (top - rest)
    rule = (
        f"relative: on at rest + {100 * on_fraction:g}% and off at rest + "
        f"{100 * off_fraction:g}% of (top - rest), rest the 5th and top the 99.9th percentile "
        "of the recording"
    )
    return replace(cfg, trigger_on=on, trigger_off=off, threshold_unit=unit, trigger_rule=rule)


@dataclass(frozen=True)
class Trigger:
    """Trial trigger levels as a user gives them.

    Attributes:
        on: level that starts a trial.
        off: level below which it is released.
        relative: True: fractions of the recording's range above its resting level
            (:func:`relative_grip_config`); False: levels in the signal's unit.
    """

    on: float
    off: float
    relative: bool


def grip_settings(
    force: npt.ArrayLike,
    task: str = "auto",
    unit: ForceUnit = "N",
    trigger: Trigger | None = None,
    config: GripConfig | None = None,
) -> GripConfig:
    """Settings for an offline recording: the task's preset and its trigger.

    Without ``trigger``: relative levels for raw units (5%/2.5%) and for rapid and pinch tasks
    (20%/10%: a child's pinch can peak at 2 N), else ``config``'s absolute levels.
    """
    cfg = grip_task_config(task, config)
    if trigger is None:
        if unit == "raw":
            return raw_grip_config(force, cfg)
        if task in GRIP_TASK_RELATIVE:
            on, off = GRIP_TASK_RELATIVE[task]
            return relative_grip_config(force, on, off, cfg, unit)
        return cfg
    if trigger.relative:
        return relative_grip_config(force, trigger.on, trigger.off, cfg, unit)
    rule = f"absolute: on at {trigger.on:g} and off at {trigger.off:g} {unit} (given)"
    return replace(
        cfg, trigger_on=trigger.on, trigger_off=trigger.off, threshold_unit=unit, trigger_rule=rule
    )


def summarize_pen(
    t: npt.ArrayLike,
    tip: npt.ArrayLike,
    barrel: npt.ArrayLike | None = None,
    *,
    rate_hz: float,
    unit: ForceUnit = "N",
    barrel_unit: ForceUnit = "N",
    config: PenConfig | None = None,
    saturated: npt.ArrayLike | None = None,
) -> PenSummary:
    """Return every pen metric of a whole recording.

    Args:
        t: sample times (s).
        tip: tip (axial) force.
        barrel: barrel grip (sum of the pads), if recorded.
        rate_hz: nominal sampling rate.
        unit: the tip's unit; with ``"raw"`` and no config, thresholds come from
            :func:`raw_pen_config`.
        barrel_unit: the barrel's unit.
        config: settings.
        saturated: True where the tip was at full scale.
    """
    if unit == "raw" and (config is None or config.threshold_unit != "raw"):
        config = raw_pen_config(tip, config)
    core = PenCore(rate_hz, config, unit, barrel_unit if barrel is not None else None)
    core.push(
        np.asarray(t, dtype=np.float64),
        np.asarray(tip, dtype=np.float64),
        None if barrel is None else np.asarray(barrel, dtype=np.float64),
        None if saturated is None else np.asarray(saturated, dtype=np.bool_),
    )
    core.finish()
    return core.summary()


def summarize_grip(
    t: npt.ArrayLike,
    force: npt.ArrayLike,
    *,
    rate_hz: float,
    unit: ForceUnit = "N",
    config: GripConfig | None = None,
    contexts: Sequence[tuple[float, GripContext]] = (),
    saturated: npt.ArrayLike | None = None,
    norms: NormTable | None = None,
    student: tuple[float, str] | None = None,
) -> GripSummary:
    """Return every grip metric of a whole recording.

    Args:
        t: sample times (s).
        force: grip force.
        rate_hz: nominal sampling rate.
        unit: the force's unit; with ``"raw"`` and no config, the trigger comes from
            :func:`raw_grip_config`.
        config: settings.
        contexts: ``(from device time, context)`` pairs: hand and task over time.
        saturated: True where the reading was at full scale.
        norms: a normative table with its provenance, if any.
        student: (age, sex) for the normative comparison.
    """
    if unit == "raw" and (config is None or config.threshold_unit != "raw"):
        config = raw_grip_config(force, config)
    core = GripCore(rate_hz, config, unit, norms, student)
    for t_from, ctx in contexts:
        core.set_context(ctx, t_from)
    core.push(
        np.asarray(t, dtype=np.float64),
        np.asarray(force, dtype=np.float64),
        None if saturated is None else np.asarray(saturated, dtype=np.bool_),
    )
    core.finish()
    return core.summary()


def summarize_block(
    block: SampleBlock,
    calibration: DeviceCalibration,
    rate_hz: float,
    *,
    pen_config: PenConfig | None = None,
    grip_config: GripConfig | None = None,
    contexts: Sequence[tuple[float, GripContext]] = (),
    count_limits: tuple[int, int] | None = None,
) -> PenSummary | GripSummary:
    """Return every metric of a whole recording given as one block of counts."""
    if block.kind == "stylus":
        pen = PenEngine(
            calibration, rate_hz, pen_config, channels=block.channels, count_limits=count_limits
        )
        pen.feed(block)
        return pen.finish()
    grip = GripEngine(
        calibration, rate_hz, grip_config, channels=block.channels, count_limits=count_limits
    )
    for t_from, ctx in contexts:
        grip.set_context(ctx, t_from)
    grip.feed(block)
    return grip.finish()
