"""Calibration: the device's coefficients and the counts-to-newtons mapping."""

from finemotor.calibration.model import (
    MODELS,
    CalibrationModel,
    ChannelCalibration,
    Conversion,
    DeviceCalibration,
)

__all__ = ["MODELS", "CalibrationModel", "ChannelCalibration", "Conversion", "DeviceCalibration"]
