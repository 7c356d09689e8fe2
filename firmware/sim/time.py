# `time` for firmware running on the simulated device: every reading comes from the sim clock
# (clock.py), with the ESP32's ticks period of 2**30 so firmware meets real wrap-around.
# On the MicroPython unix port a `time.py` first on sys.path replaces the built-in module;
# `utime` still names the built-in one.
#
# Importing this module also points asyncio at a pure-Python task queue keyed on these ticks
# (simtasks.py): the built-in `_asyncio` stamps tasks with the host's clock, which the
# simulated device does not share.
import sys

import clock as _clock
import utime

_PERIOD = 1 << 30
_MASK = _PERIOD - 1
_HALF = _PERIOD >> 1
_EPOCH_2000 = 946684800  # a fresh ESP32's RTC starts at 2000-01-01 00:00:00 (1970 epoch)


def ticks_us():
    return _clock._clock.now_us() & _MASK


def ticks_ms():
    return (_clock._clock.now_us() // 1000) & _MASK


def ticks_cpu():
    return _clock._clock.now_us() & _MASK


def ticks_add(ticks, delta):
    return (ticks + delta) & _MASK


def ticks_diff(ticks1, ticks2):
    return ((ticks1 - ticks2 + _HALF) & _MASK) - _HALF


def sleep_us(us):
    _clock._clock.sleep_us(us)


def sleep_ms(ms):
    _clock._clock.sleep_us(ms * 1000)


def sleep(seconds):
    _clock._clock.sleep_us(int(seconds * 1_000_000))


def _epoch_us():
    c = _clock._clock
    return _EPOCH_2000 * 1_000_000 + c.rtc_offset_us + c.now_us()


def time():
    return _epoch_us() // 1_000_000


def time_ns():
    return _epoch_us() * 1000


def gmtime(secs=None):
    return utime.gmtime(time() if secs is None else secs)


def localtime(secs=None):
    return utime.localtime(time() if secs is None else secs)


def mktime(t):
    return utime.mktime(t)


import simtasks  # noqa: E402

sys.modules["_asyncio"] = simtasks
