# The simulated device clock.
#
# Two timelines: *world time* (true time, integer microseconds since the world began: what the
# student, the sensor chips and their oscillators live in) and *device time* (what the ESP32's
# crystal counts: world time scaled by the crystal drift, plus a start offset). `time.ticks_*`
# read device time. Virtual clocks move only when the world advances them or firmware sleeps;
# realtime clocks follow the host's monotonic clock.
#
# While an interrupt handler runs (`in_irq`), sleeps and bus transfers only move time forward:
# they never fire other simulated events (interrupts do not nest), like a handler on the chip.
import utime

NEVER = 1 << 60  # a world time that never comes
_G = 1_000_000_000


class Clock:
    def __init__(self, realtime=False, drift_ppm=0.0, start_us=0):
        self.realtime = bool(realtime)
        self.ppb = int(drift_ppm * 1000)  # crystal error, parts per billion (integer: no floats)
        self.start_us = int(start_us)  # device microseconds at world time 0
        self.in_irq = False
        self.sleeper = None  # fn(world_us) the world sets: sleeping lets simulated events happen
        self.rtc_offset_us = 0  # device epoch offset set through machine.RTC
        self._w = 0  # virtual world time
        self._held = -1  # realtime: device time frozen while an IRQ handler runs
        self._host0 = utime.ticks_us()

    # -- time bases -------------------------------------------------------------------------
    def world_us(self):
        if self.realtime:
            return utime.ticks_diff(utime.ticks_us(), self._host0)
        return self._w

    def device_at(self, w):
        # Device microseconds (unwrapped) at world time w.
        return self.start_us + w + w * self.ppb // _G

    def now_us(self):
        # Device microseconds since boot, unwrapped. Allocation-free.
        if self._held >= 0:
            return self._held
        w = self._w
        if self.realtime:
            w = utime.ticks_diff(utime.ticks_us(), self._host0)
        return self.start_us + w + w * self.ppb // _G

    def to_world(self, dev_us):
        # World microseconds that a device interval of dev_us lasts (rounded up).
        return -(-dev_us * _G // (_G + self.ppb))

    # -- moving time ------------------------------------------------------------------------
    def set_world(self, w):
        # Virtual mode: move world time forward to w (never backwards).
        if w > self._w:
            self._w = w

    def hold(self, dev_us):
        # Enter an interrupt handler at device time dev_us (realtime: freeze the clock there).
        self.in_irq = True
        if self.realtime:
            self._held = dev_us

    def release(self):
        self.in_irq = False
        self._held = -1

    def sleep_us(self, dev_us, sleep=True):
        # A firmware sleep of dev_us device microseconds, or (sleep=False) the time an
        # operation takes (a bus transfer, a GPIO write): in virtual time both move the clock
        # and let due events fire; in realtime an operation only lets due events fire (the host
        # spent the time already). Inside an IRQ handler time just moves on.
        if dev_us <= 0:
            return
        if self.in_irq:
            if self.realtime:
                self._held += dev_us
            else:
                self._w += self.to_world(dev_us)
        elif self.sleeper is not None:
            self.sleeper(self.to_world(dev_us), sleep)
        elif not self.realtime:
            self._w += self.to_world(dev_us)
        elif sleep:
            utime.sleep_us(dev_us)


_clock = Clock(realtime=True)  # until a World installs its own


def install(clock):
    # Make `clock` the device clock that `time` reads from now on.
    global _clock
    _clock = clock
    return clock
