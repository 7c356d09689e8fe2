"""The status characteristic: state, battery, sensor health and sample counters."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from finemotor.errors import ProtocolError

STATUS_SIZE = 20
_FMT = "<BBHBBHIIHH"
STATES = {0: "idle", 1: "streaming", 3: "fault"}
HEALTH_ADC = 0x01
HEALTH_AUX = 0x02
FLAG_LOW_BATTERY = 0x01
FLAG_CRITICAL_BATTERY = 0x02
FLAG_PAIRING_OPEN = 0x04
FLAG_CALIBRATED = 0x08


@dataclass(frozen=True)
class Status:
    """One reading of the kit's status characteristic.

    Attributes:
        state: "idle", "streaming" or "fault".
        battery_percent: state of charge, 0-100 %.
        battery_mv: battery voltage in millivolts.
        health: sensor health bits (0 = all sensors answer).
        flags: low battery, critical battery, pairing window open, calibrated.
        rate_hz: sampling rate in hertz.
        missed: triggers the device could not serve (samples never taken).
        overwritten: samples overwritten in the device's buffer before they could be sent.
        next_seq: wire sequence number the next sample will get.
        faults: sensor reads that failed.
    """

    state: str
    battery_percent: int
    battery_mv: int
    health: int
    flags: int
    rate_hz: int
    missed: int
    overwritten: int
    next_seq: int
    faults: int

    @property
    def low_battery(self) -> bool:
        """Below 15 %."""
        return bool(self.flags & FLAG_LOW_BATTERY)

    @property
    def critical_battery(self) -> bool:
        """Below 5 %: the kit will stop soon."""
        return bool(self.flags & FLAG_CRITICAL_BATTERY)

    @property
    def pairing_open(self) -> bool:
        """The kit's pairing window is open."""
        return bool(self.flags & FLAG_PAIRING_OPEN)

    @property
    def calibrated(self) -> bool:
        """A calibration record is stored on the kit."""
        return bool(self.flags & FLAG_CALIBRATED)


def decode_status(data: bytes | bytearray) -> Status:
    """Decode the 20-byte status value; raise ProtocolError if it has another size."""
    if len(data) != STATUS_SIZE:
        raise ProtocolError("bad_status", f"status is {len(data)} bytes, expected 20", bytes(data))
    st, pct, mv, health, flags, rate, missed, over, seq, faults = struct.unpack(_FMT, data)
    return Status(
        state=STATES.get(st, f"unknown({st})"),
        battery_percent=pct,
        battery_mv=mv,
        health=health,
        flags=flags,
        rate_hz=rate,
        missed=missed,
        overwritten=over,
        next_seq=seq,
        faults=faults,
    )
