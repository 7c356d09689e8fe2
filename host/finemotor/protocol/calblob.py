"""The calibration record as stored on a kit (docs/protocol.md, "Calibration record")."""

from __future__ import annotations

import struct

from finemotor.calibration.model import CalibrationModel, ChannelCalibration, DeviceCalibration
from finemotor.errors import CalibrationError, ProtocolError

CAL_FORMAT = 1
CAL_RECORD_MAX = 256
"""Largest calibration record a kit stores (the firmware's ``MAX_BLOB``)."""
MODEL_IDS: dict[CalibrationModel, int] = {"none": 0, "linear": 1, "poly": 2, "table": 3}
_MODEL_NAMES: dict[int, CalibrationModel] = {v: k for k, v in MODEL_IDS.items()}


def encode_calibration(cal: DeviceCalibration) -> bytes:
    """Pack a calibration record for CAL_STAGE (coefficients become float32)."""
    out = struct.pack("<BIB", CAL_FORMAT, cal.calibrated_at, len(cal.channels))
    for ch in cal.channels:
        out += struct.pack("<BBi", MODEL_IDS[ch.model], len(ch.coeffs), ch.zero)
        out += struct.pack(f"<{len(ch.coeffs)}f", *ch.coeffs)
    return out


def decode_calibration(blob: bytes, channels: int | None = None) -> DeviceCalibration:
    """Read a calibration record from a kit.

    Args:
        blob: the record's bytes (as CAL_READ returns them, without the flash CRC).
        channels: the device's channel count, if known; a record for another count is refused.

    Raises:
        ProtocolError: the bytes are not a calibration record.
        CalibrationError: the record is well-formed but its coefficients are unusable.
    """
    if len(blob) < 6 or blob[0] != CAL_FORMAT:
        raise ProtocolError("bad_calibration", "not a format-1 calibration record", blob)
    at, n = struct.unpack_from("<IB", blob, 1)
    if channels is not None and n != channels:
        raise ProtocolError(
            "bad_calibration", f"record has {n} channels, the device has {channels}", blob
        )
    off = 6
    out: list[ChannelCalibration] = []
    for i in range(n):
        if off + 6 > len(blob):
            raise ProtocolError("bad_calibration", f"record truncated in channel {i}", blob)
        model_id, ncoef, zero = struct.unpack_from("<BBi", blob, off)
        off += 6
        if model_id not in _MODEL_NAMES:
            raise ProtocolError("bad_calibration", f"channel {i}: unknown model {model_id}", blob)
        if off + 4 * ncoef > len(blob):
            raise ProtocolError("bad_calibration", f"record truncated in channel {i}", blob)
        coeffs = struct.unpack_from(f"<{ncoef}f", blob, off)
        off += 4 * ncoef
        try:
            out.append(ChannelCalibration(_MODEL_NAMES[model_id], zero, tuple(coeffs)))
        except CalibrationError as exc:
            raise CalibrationError(f"the kit's calibration, channel {i}: {exc}") from exc
    if off != len(blob):
        raise ProtocolError("bad_calibration", "trailing bytes after the last channel", blob)
    return DeviceCalibration(at, tuple(out))
