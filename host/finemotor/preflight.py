"""Checks before a session starts: is each kit charged enough and calibrated recently enough?

A kit that would stop mid-session, or whose forces would be off, is flagged before anything is
recorded, with what to do. A flag ``blocks`` the session unless the facilitator says to go on
anyway; whatever they decide is recorded with the session.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from finemotor.calibration.model import DeviceCalibration
from finemotor.protocol.status import Status

LOW_BATTERY_PERCENT = 20
"""Below this a kit may not last a 30-minute session."""
CALIBRATION_VALID_DAYS = 365.0
"""A calibration older than this is expired (and shown as due in the therapist view)."""


@dataclass(frozen=True)
class Flag:
    """One problem found before the session.

    Attributes:
        device: ``stylus`` or ``grip``.
        code: ``battery_low``, ``battery_unknown``, ``uncalibrated``, ``calibration_expired``.
        message: what is wrong and what to do, for the facilitator.
        blocks: the session should not start unless they choose to go on anyway.
    """

    device: str
    code: str
    message: str
    blocks: bool


def check_kit(
    device: str,
    kit_id: str,
    status: Status | None,
    calibration: DeviceCalibration | None,
    now: float | None = None,
) -> list[Flag]:
    """The flags for one kit (empty: ready)."""
    now = time.time() if now is None else now
    flags: list[Flag] = []
    name = f"the {device} kit ({kit_id})" if kit_id else f"the {device} kit"
    if status is None:
        flags.append(
            Flag(device, "battery_unknown", f"{name} did not report its battery.", blocks=False)
        )
    elif status.battery_percent < LOW_BATTERY_PERCENT or status.low_battery:
        flags.append(
            Flag(
                device,
                "battery_low",
                f"{name} battery is at {status.battery_percent} %: plug it into its charger "
                "for 20 minutes first (it can record while charging).",
                blocks=True,
            )
        )
    if calibration is None or not calibration.calibrated:
        flags.append(
            Flag(
                device,
                "uncalibrated",
                f"{name} is not calibrated: its forces would be in raw units, not newtons. "
                "Ask whoever calibrates the kits to run `finemotor calibrate " + device + "`.",
                blocks=True,
            )
        )
    else:
        age_days = (now - calibration.calibrated_at) / 86400.0
        if age_days > CALIBRATION_VALID_DAYS:
            when = time.strftime("%Y-%m-%d", time.localtime(calibration.calibrated_at))
            flags.append(
                Flag(
                    device,
                    "calibration_expired",
                    f"{name} was last calibrated on {when} ({age_days:.0f} days ago; it is "
                    f"valid for {CALIBRATION_VALID_DAYS:.0f}): its forces may be off. Ask for "
                    "it to be recalibrated (`finemotor calibrate " + device + "`).",
                    blocks=True,
                )
            )
    return flags
