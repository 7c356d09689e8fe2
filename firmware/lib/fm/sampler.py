# The sampler: on every trigger, read all channels, stamp the device tick, store in the ring.
#
# The trigger is the bridge ADC's data-ready pin (one sample per conversion) or, when the
# channels include the MCU's own ADC, a hardware timer at the chosen rate. The handler runs as
# a soft interrupt (queued by the ESP32's scheduler, stamped when it runs): it allocates nothing
# and never waits. Sampling pauses only at a ring block boundary (see ring.py), so a stop
# finishes the current block of 16 samples first.
import time

import machine
from micropython import const

_TICK_MASK = const(0x3FFFFFFF)
_HALF = const(1 << 29)  # tick differences beyond this are negative
_LATENCY_US = const(20000)  # a sample waits at most ~20 ms on the device
_GAP_MAX = const(1 << 25)  # gaps shorter than this (33 s) are counted in 1/16 us: small ints


class Sampler:
    def __init__(self, ring, channels, flag, use_timer, timer_id=0):
        self.ring = ring
        self.channels = channels
        self._flag = flag  # asyncio.ThreadSafeFlag: a frame's worth of samples is ready
        self._use_timer = use_timer
        self._timer_id = timer_id
        self._timer = None
        self.rate = 0
        self.batch = 1  # samples per live frame at this rate
        self.running = False
        self._stopping = False
        self._period = 0
        self._late = 0
        self._last = -1
        self._anchor = -1
        self._late_n = 0
        self._pending = 0
        self.missed = 0  # triggers that came too late: samples never taken
        self.faults = 0  # reads that raised (sensor gone)

    def configure(self, rate):
        # Set the rate in Hz (the bridge ADC picks its nearest supported rate).
        if not self._use_timer:
            try:
                rate = self.channels.adc.set_rate(rate)
            except OSError:  # the sensor does not answer: keep the rate asked for
                pass
        self.rate = rate
        self._period = 1000000 // rate
        self._avg16 = self._period << 4  # measured period, 1/16 us (the ADC's own clock)
        self._late = self._period + (self._period >> 1)
        b = (rate * _LATENCY_US) // 1000000
        self.batch = b if b > 0 else 1
        return rate

    def start(self):
        # Start sampling: True if it starts afresh, False if it was sampling still (a STOP
        # that was finishing its block is cancelled). The handler is a soft callback: it runs
        # at any bytecode jump of the main program, here too, and may halt the sampler at a
        # block boundary between two of these statements.
        if self.running:
            self._stopping = False
            if self.running:
                return False
        self._last = -1
        self._anchor = -1  # stamp of the last sample taken on time
        self._late_n = 0  # samples taken late since then
        self._stopping = False
        self._pending = 0
        self.running = True
        if self._use_timer:
            self._timer = machine.Timer(self._timer_id)
            self._timer.init(freq=self.rate, mode=machine.Timer.PERIODIC, callback=self._isr)
        else:
            self.channels.adc.drdy.irq(handler=self._isr, trigger=machine.Pin.IRQ_FALLING)
        return True

    def stop(self):
        # Stop at the next block boundary, or now if on one. `_stopping` first: a handler that
        # runs between the check and the halt then halts at that boundary itself instead of
        # taking a sample into the block (the pause would fall inside it).
        if self.running:
            self._stopping = True
            if self.ring.at_block_start():
                self._halt()

    def _halt(self):
        # From stop() or the handler; a halt that the handler did in between makes it a no-op.
        if not self.running:
            return
        self.running = False
        self._stopping = False
        if self._late_n:  # no sample on time came after the gap: count by the late stamp
            self.missed += self._periods((self._last - self._anchor) & _TICK_MASK) - self._late_n
            self._late_n = 0
        if self._use_timer:
            t = self._timer
            self._timer = None
            if t is not None:
                t.deinit()
        else:
            self.channels.adc.drdy.irq(handler=None)
        self._flag.set()

    def kick(self, now):
        # Called by the stream task: if the data-ready line has gone quiet for 4 periods while
        # sampling (a missed edge leaves some chips' DRDY asserted, with no new edge to come),
        # read once by hand, which releases it. Returns True if it had to. The handler may
        # have taken a sample after the caller read `now` (it runs at any bytecode jump):
        # a last sample newer than `now` is no silence.
        if not self.running or self._use_timer or self._last < 0:
            return False
        if ((now - self._last + _HALF) & _TICK_MASK) - _HALF < (self._period << 2):
            return False
        self._isr(None)
        return True

    def _periods(self, d):
        # Sample periods in d us, by the measured period (a chip's oscillator is off by up to
        # 2 %: over a long gap the nominal period would miscount).
        if d < _GAP_MAX:
            a = self._avg16
            return ((d << 4) + (a >> 1)) // a
        return (d + (self._period >> 1)) // self._period

    def _isr(self, _src):
        if not self.running:
            return
        if self._stopping and self.ring.at_block_start():
            self._halt()  # a STOP came while on a boundary: no sample into the next block
            return
        t = time.ticks_us() & _TICK_MASK  # type: ignore[operator]  # stubs keep ticks opaque
        if not self._use_timer and _src is not None and not self.channels.adc.ready():
            return  # an edge with no result (HX711's DOUT toggles while it is read)
        last = self._last
        if self._use_timer and last >= 0 and ((t - last) & _TICK_MASK) < (self._period >> 1):
            # A timer callback that ran bunched behind the one before: both waited in the
            # scheduler's queue through a stall (a flash write) and are stamped when they run.
            # One reading stands for that moment; the others count as missed (see below).
            return
        ring = self.ring
        try:
            self.channels.read_into(ring.data, ring.offset())
        except OSError:
            self.faults += 1
            return
        if last < 0:
            self._anchor = t
        elif ((t - last) & _TICK_MASK) > self._late:
            # Late: after a gap, and stamped when it ran (up to a period after its
            # conversion). The periods lost are counted from the next sample on time.
            self._late_n += 1
        else:
            if self._late_n:
                self.missed += self._periods((t - self._anchor) & _TICK_MASK) - self._late_n - 1
                self._late_n = 0
            elif ((t - last) & _TICK_MASK) > (self._period >> 1):
                self._avg16 += ((((t - last) & _TICK_MASK) << 4) - self._avg16) >> 5
            self._anchor = t
        self._last = t
        ring.commit(t)
        if self._stopping and ring.at_block_start():
            self._halt()
            return
        self._pending += 1
        if self._pending >= self.batch:
            self._pending = 0
            self._flag.set()
