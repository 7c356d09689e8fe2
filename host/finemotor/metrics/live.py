"""Live engines: SampleBlocks plus the device's calibration in, metric snapshots out.

The engines convert counts to newtons (or raw units for uncalibrated channels) with
:func:`~finemotor.forces.convert_channel` and hand the arrays to the same
:class:`~finemotor.metrics.pen.PenCore` / :class:`~finemotor.metrics.grip.GripCore` the
offline summary uses, so after :meth:`finish` the live values equal the offline ones. A
snapshot is returned at least every ``update_s`` of device time (0.2 s: 5 Hz).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from finemotor.calibration.model import DeviceCalibration
from finemotor.errors import CalibrationError, FinemotorError
from finemotor.forces import BARREL_PADS, ChannelData, barrel_pads, barrel_sum, convert_channel
from finemotor.metrics.config import (
    NOMINAL_COUNTS_PER_N,
    ForceUnit,
    GripConfig,
    GripContext,
    PenConfig,
)
from finemotor.metrics.filters import CausalFilter, lowpass_sos
from finemotor.metrics.grip import GripCore, GripSummary
from finemotor.metrics.norms import NormTable
from finemotor.metrics.pen import PenCore, PenSummary
from finemotor.metrics.results import NEWTON, RATIO, Metric, absent, present
from finemotor.samples import SampleBlock

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

STYLUS_CHANNELS: tuple[str, ...] = ("tip", *BARREL_PADS)
GRIP_CHANNELS: tuple[str, ...] = ("force",)


@dataclass(frozen=True)
class LiveSnapshot:
    """What a live view shows: the latest values and every metric so far.

    Attributes:
        t: device time of the latest sample (s).
        current: live (causal-filtered) values.
        summary: every metric of the recording so far.
    """

    t: float
    current: dict[str, Metric]
    summary: PenSummary | GripSummary


def _check_layout(
    block: SampleBlock, calibration: DeviceCalibration, kind: str, channels: tuple[str, ...]
) -> None:
    if block.kind != kind or block.channels != channels:
        raise FinemotorError(
            f"this engine takes {kind} blocks with channels {channels}, got a {block.kind} "
            f"block with {block.channels}: start the engine with the device's channel layout"
        )
    if len(calibration.channels) != len(block.channels):
        raise CalibrationError(
            f"calibration record has {len(calibration.channels)} channel(s) but the "
            f"{block.kind} sends {len(block.channels)} ({', '.join(block.channels)}); read the "
            "calibration from the device that made the recording"
        )


class _LiveEngine(ABC):
    """What both engines share: the record and layout they take, the conversion of a block's
    channel, and a snapshot every ``update_s`` of device time."""

    def __init__(
        self,
        kind: str,
        calibration: DeviceCalibration,
        channels: tuple[str, ...],
        count_limits: tuple[int, int] | None,
        update_s: float,
    ) -> None:
        self.kind = kind
        self.calibration = calibration
        self.channels = channels
        self.count_limits = count_limits
        self.update_s = update_s
        self._last_update: float | None = None

    def _channel(self, block: SampleBlock, index: int) -> ChannelData:
        return convert_channel(block.counts[:, index], self.calibration, index, self.count_limits)

    def _check(self, block: SampleBlock) -> bool:
        """False for an empty block; raises for one of another layout."""
        if len(block) == 0:
            return False
        _check_layout(block, self.calibration, self.kind, self.channels)
        return True

    def _due(self, block: SampleBlock) -> LiveSnapshot | None:
        """A snapshot if ``update_s`` has passed since the last one."""
        t = float(block.t[-1])
        if self._last_update is None or t - self._last_update >= self.update_s - 1e-9:
            self._last_update = t
            return self.snapshot()
        return None

    @abstractmethod
    def snapshot(self) -> LiveSnapshot:
        """Return the live values and every metric so far."""


class PenEngine(_LiveEngine):
    """Live pen metrics for a stylus stream."""

    def __init__(
        self,
        calibration: DeviceCalibration,
        rate_hz: float,
        config: PenConfig | None = None,
        *,
        channels: tuple[str, ...] = STYLUS_CHANNELS,
        count_limits: tuple[int, int] | None = None,
        update_s: float = 0.2,
        display_lowpass_hz: float = 10.0,
    ) -> None:
        """Set up the engine.

        Args:
            calibration: the stylus's calibration record (channel order of ``channels``).
            rate_hz: nominal sampling rate.
            config: pen metric settings.
            channels: the channel names, in the record's order.
            count_limits: converter (min, max) counts, for saturation.
            update_s: device time between snapshots.
            display_lowpass_hz: causal low-pass of the live values.
        """
        if "tip" not in channels:
            raise CalibrationError(f"a stylus needs a 'tip' channel, got {channels}")
        super().__init__("stylus", calibration, channels, count_limits, update_s)
        tip_cal = calibration.channel(channels.index("tip"))
        tip_unit: ForceUnit = "N" if tip_cal.calibrated else "raw"
        cfg = config or PenConfig()
        if tip_unit == "raw" and cfg.threshold_unit == "N":
            # no newton scale: the pen-down levels at the reference hardware's nominal scale,
            # so the unit-free metrics (CV, times, ratios) still run live
            k = NOMINAL_COUNTS_PER_N["stylus"]
            cfg = replace(cfg, on=cfg.on * k, off=cfg.off * k, threshold_unit="raw")
        config = cfg
        self._barrel_idx = barrel_pads(channels)
        barrel_unit: ForceUnit | None = None
        if self._barrel_idx:
            cal_ok = all(calibration.channel(i).calibrated for i in self._barrel_idx)
            barrel_unit = "N" if cal_ok else "raw"
        self.core = PenCore(rate_hz, config, tip_unit, barrel_unit)
        sos = lowpass_sos(display_lowpass_hz, rate_hz) if rate_hz > 0 else None
        self._tip_live = CausalFilter(sos) if sos is not None else None
        self._bar_live = CausalFilter(sos) if sos is not None and self._barrel_idx else None

    def feed(self, block: SampleBlock) -> LiveSnapshot | None:
        """Add a block; return a snapshot if ``update_s`` has passed since the last one."""
        if not self._check(block):
            return None
        tip = self._channel(block, self.channels.index("tip"))
        barrel = None
        if self._barrel_idx:
            barrel = barrel_sum([self._channel(block, i) for i in self._barrel_idx]).values
            if self._bar_live is not None:
                self._bar_live.process(barrel)
        if self._tip_live is not None:
            self._tip_live.process(tip.values)
        self.core.push(block.t, tip.values, barrel, tip.saturated)
        return self._due(block)

    def snapshot(self) -> LiveSnapshot:
        """Return the live values and every metric so far."""
        core = self.core
        current: dict[str, Metric] = {}
        tip_last = self._tip_live.last if self._tip_live else None
        current["tip"] = (
            present(tip_last, core.tip_unit)
            if tip_last is not None
            else absent(NEWTON, "no samples yet")
        )
        bar_last = self._bar_live.last if self._bar_live else None
        current["barrel"] = (
            present(bar_last, core.barrel_unit or NEWTON)
            if bar_last is not None
            else absent(NEWTON, "no barrel samples")
        )
        current["pen_down"] = present(int(core.seg.raw_down), RATIO)
        t = core.t_last if core.t_last is not None else float("nan")
        return LiveSnapshot(t, current, core.summary())

    def finish(self) -> PenSummary:
        """End of recording: return the final metrics (equal to the offline summary)."""
        self.core.finish()
        return self.core.summary()


class GripEngine(_LiveEngine):
    """Live grip metrics for a dynamometer stream."""

    def __init__(
        self,
        calibration: DeviceCalibration,
        rate_hz: float,
        config: GripConfig | None = None,
        *,
        channels: tuple[str, ...] = GRIP_CHANNELS,
        count_limits: tuple[int, int] | None = None,
        update_s: float = 0.2,
        norms: NormTable | None = None,
        student: tuple[float, str] | None = None,
    ) -> None:
        """Set up the engine.

        Args:
            calibration: the dynamometer's calibration record.
            rate_hz: nominal sampling rate.
            config: grip metric settings.
            channels: the channel names, in the record's order (``force`` is used).
            count_limits: converter (min, max) counts, for saturation.
            update_s: device time between snapshots.
            norms: a normative table with its provenance, if any.
            student: (age, sex) for the normative comparison.
        """
        if "force" not in channels:
            raise CalibrationError(f"a grip dynamometer needs a 'force' channel, got {channels}")
        super().__init__("grip", calibration, channels, count_limits, update_s)
        self._idx = channels.index("force")
        unit: ForceUnit = "N" if calibration.channel(self._idx).calibrated else "raw"
        cfg = config or GripConfig()
        if unit == "raw" and cfg.threshold_unit == "N":
            # no newton scale: the trigger at the reference hardware's nominal scale, so the
            # unit-free metrics (CV across trials, times, fatigue) still run live
            k = NOMINAL_COUNTS_PER_N["grip"]
            cfg = replace(
                cfg,
                trigger_on=cfg.trigger_on * k,
                trigger_off=cfg.trigger_off * k,
                threshold_unit="raw",
                trigger_rule=(
                    f"uncalibrated: on at {cfg.trigger_on:g} N and off at {cfg.trigger_off:g} N "
                    f"at the reference hardware's nominal {k:g} counts per newton"
                ),
            )
        self.core = GripCore(rate_hz, cfg, unit, norms, student)

    def set_context(self, context: GripContext, t_from: float | None = None) -> None:
        """Say which hand and task from device time ``t_from`` (default: from now on)."""
        self.core.set_context(context, t_from)

    def feed(self, block: SampleBlock) -> LiveSnapshot | None:
        """Add a block; return a snapshot if ``update_s`` has passed since the last one."""
        if not self._check(block):
            return None
        ch = self._channel(block, self._idx)
        self.core.push(block.t, ch.values, ch.saturated)
        return self._due(block)

    def snapshot(self) -> LiveSnapshot:
        """Return the live force and every metric so far."""
        core = self.core
        cur = core.current
        if cur is None:
            force = absent(core.unit, "no samples yet")
        elif core.unit == NEWTON:
            force = Metric(cur, NEWTON, display_unit="kgf")
        else:
            force = present(cur, core.unit)
        t = core.t_last if core.t_last is not None else float("nan")
        return LiveSnapshot(t, {"force": force}, core.summary())

    def finish(self) -> GripSummary:
        """End of recording: return the final metrics (equal to the offline summary)."""
        self.core.finish()
        return self.core.summary()
