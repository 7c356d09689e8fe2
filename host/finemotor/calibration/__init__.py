"""Calibration: the device's coefficients and the counts-to-newtons mapping."""

from typing import TYPE_CHECKING

from finemotor._lazy import lazy_exports

if TYPE_CHECKING:
    from finemotor.calibration.model import (
        MODELS,
        CalibrationModel,
        ChannelCalibration,
        Conversion,
        DeviceCalibration,
    )

__all__ = ["MODELS", "CalibrationModel", "ChannelCalibration", "Conversion", "DeviceCalibration"]

_EXPORTS = {
    "MODELS": "finemotor.calibration.model",
    "CalibrationModel": "finemotor.calibration.model",
    "ChannelCalibration": "finemotor.calibration.model",
    "Conversion": "finemotor.calibration.model",
    "DeviceCalibration": "finemotor.calibration.model",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
