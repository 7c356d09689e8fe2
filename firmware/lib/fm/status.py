# Status characteristic: 20 bytes, read or notified once a second and on every change of state.
#   u8 state | u8 battery % | u16 battery mV | u8 health | u8 flags | u16 rate Hz |
#   u32 missed | u32 overwritten | u16 next seq | u16 faults
import struct

from micropython import const

STATE_IDLE = const(0)
STATE_STREAMING = const(1)
STATE_FAULT = const(3)

HEALTH_ADC = const(0x01)  # the bridge ADC does not answer
HEALTH_AUX = const(0x02)  # an auxiliary channel (FSR, battery sense) reads out of range

FLAG_LOW_BATTERY = const(0x01)  # below 15 %
FLAG_CRITICAL_BATTERY = const(0x02)  # below 5 %: stop soon
FLAG_PAIRING_OPEN = const(0x04)  # the button's pairing window is open
FLAG_CALIBRATED = const(0x08)  # a calibration record is stored

STATUS_SIZE = const(20)
_FMT = "<BBHBBHIIHH"


def pack_status(buf, state, pct, mv, health, flags, rate, missed, overwritten, seq, faults):
    struct.pack_into(
        _FMT,
        buf,
        0,
        state,
        pct,
        mv,
        health,
        flags,
        rate,
        missed & 0xFFFFFFFF,
        overwritten & 0xFFFFFFFF,
        seq & 0xFFFF,
        faults & 0xFFFF,
    )
