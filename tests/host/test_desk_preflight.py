"""This desk's kit list, and the checks a kit passes before a session starts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from finemotor.calibration.model import ChannelCalibration, DeviceCalibration
from finemotor.desk import Desk
from finemotor.errors import InputFileError
from finemotor.preflight import CALIBRATION_VALID_DAYS, LOW_BATTERY_PERCENT, check_kit
from finemotor.protocol.status import Status


def _status(percent: int, flags: int = 0) -> Status:
    return Status("streaming", percent, 3900, 0, flags, 320, 0, 0, 0, 0)


def _cal(days_ago: float, now: float) -> DeviceCalibration:
    return DeviceCalibration(
        int(now - days_ago * 86400), (ChannelCalibration("linear", 120, (0.001,)),)
    )


def test_the_desk_remembers_one_kit_per_kind_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "kits.json"
    desk = Desk(path)
    assert desk.kit_for("grip") is None
    desk.remember("5a2002", "grip", "f0:00:00:00:00:03")
    desk.remember("5A1001", "stylus", "F0:00:00:00:00:02")
    desk.remember("5A2003", "grip", "F0:00:00:00:00:04")  # a replacement grip for this desk
    again = Desk(path)
    assert sorted(again.kits) == ["5A1001", "5A2003"]
    grip = again.kit_for("grip")
    assert grip is not None and grip.address == "F0:00:00:00:00:04"
    assert again.forget("5A1001") and not Desk(path).kit_for("stylus")
    with pytest.raises(InputFileError, match="not a kit id"):
        again.remember("5A20", "grip", "F0:00:00:00:00:04")


def test_a_damaged_desk_file_says_how_to_start_afresh(tmp_path: Path) -> None:
    path = tmp_path / "kits.json"
    path.write_text("{not json")
    with pytest.raises(InputFileError, match="pair the kits again"):
        Desk(path)


def test_a_charged_recently_calibrated_kit_passes() -> None:
    now = time.time()
    assert check_kit("grip", "5A2002", _status(80), _cal(30, now), now) == []


def test_low_battery_and_expired_or_missing_calibration_block_with_advice() -> None:
    now = time.time()
    flags = check_kit(
        "grip", "5A2002", _status(LOW_BATTERY_PERCENT - 1), _cal(CALIBRATION_VALID_DAYS + 5, now)
    )
    assert [f.code for f in flags] == ["battery_low", "calibration_expired"]
    assert all(f.blocks for f in flags)
    assert "charger" in flags[0].message and "finemotor calibrate grip" in flags[1].message
    assert f"{CALIBRATION_VALID_DAYS + 5:.0f} days ago" in flags[1].message
    raw = check_kit("stylus", "5A1001", _status(90), DeviceCalibration.uncalibrated(3))
    assert [f.code for f in raw] == ["uncalibrated"] and "raw units" in raw[0].message
    unknown = check_kit("stylus", "5A1001", None, _cal(1, now), now)
    assert [(f.code, f.blocks) for f in unknown] == [("battery_unknown", False)]
