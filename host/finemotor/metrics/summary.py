"""Offline summaries of whole recordings: the same cores the live engines run.

``summarize_pen`` and ``summarize_grip`` take whole arrays (newtons or raw units);
``summarize_block`` takes a whole-recording :class:`~finemotor.samples.SampleBlock` and the
device's calibration and runs it through the live engine in one go.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from finemotor.calibration.model import DeviceCalibration
from finemotor.metrics.config import ForceUnit, GripConfig, GripContext, PenConfig
from finemotor.metrics.grip import GripCore, GripSummary
from finemotor.metrics.live import GripEngine, PenEngine
from finemotor.metrics.norms import NormTable
from finemotor.metrics.pen import PenCore, PenSummary
from finemotor.samples import SampleBlock

F64 = npt.NDArray[np.float64]

RAW_PEN_ON = 0.075
RAW_PEN_OFF = 0.04
RAW_GRIP_ON = 0.05
RAW_GRIP_OFF = 0.025


def _scale(x: npt.ArrayLike, top: float) -> tuple[float, float]:
    v = np.asarray(x, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.shape[0] == 0:
        return 0.0, 0.0
    lo = float(np.percentile(v, 5))
    return lo, float(np.percentile(v, top)) - lo


def raw_pen_config(x: npt.ArrayLike, config: PenConfig | None = None) -> PenConfig:
    """Return pen settings with pen-down thresholds for a raw-unit tip signal.

    Raw signals have no newton scale, so the thresholds are set from the recording: with
    ``lo`` its 5th and ``hi`` its 99th percentile, on = lo + 7.5% and off = lo + 4% of
    ``hi - lo`` (0.15 N and 0.08 N of a 2 N writing-force range). A flat signal gets
    thresholds no sample reaches.
    """
    lo, scale = _scale(x, 99.0)
    cfg = config or PenConfig()
    if scale <= 0.0:
        return replace(cfg, on=math.inf, off=math.inf, threshold_unit="raw")
    return replace(
        cfg, on=lo + RAW_PEN_ON * scale, off=lo + RAW_PEN_OFF * scale, threshold_unit="raw"
    )


def raw_grip_config(x: npt.ArrayLike, config: GripConfig | None = None) -> GripConfig:
    """Return grip settings with a trial trigger for a raw-unit force signal.

    With ``lo`` the 5th percentile and ``hi`` the 99.9th: on = lo + 5%, off = lo + 2.5% of
    ``hi - lo``.
    """
    lo, scale = _scale(x, 99.9)
    cfg = config or GripConfig()
    if scale <= 0.0:
        return replace(cfg, trigger_on=math.inf, trigger_off=math.inf, threshold_unit="raw")
    return replace(
        cfg,
        trigger_on=lo + RAW_GRIP_ON * scale,
        trigger_off=lo + RAW_GRIP_OFF * scale,
        threshold_unit="raw",
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
