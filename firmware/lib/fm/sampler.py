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
_LATENCY_US = const(20000)  # a sample waits at most ~20 ms on the device


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
        self._pending = 0
        self.missed = 0  # triggers that came too late: samples never taken
        self.faults = 0  # reads that raised (sensor gone)
        self.stalls = 0  # data-ready went quiet and the stream task read by hand
        self.resumed = False  # set when sampling starts; the framer flags the first frame

    def configure(self, rate):
        # Set the rate in Hz (the bridge ADC picks its nearest supported rate).
        if not self._use_timer:
            try:
                rate = self.channels.adc.set_rate(rate)
            except OSError:  # the sensor does not answer: keep the rate asked for
                pass
        self.rate = rate
        self._period = 1000000 // rate
        self._late = self._period + (self._period >> 1)
        b = (rate * _LATENCY_US) // 1000000
        self.batch = b if b > 0 else 1
        return rate

    def start(self):
        if self.running:
            self._stopping = False
            return
        self._last = -1
        self._stopping = False
        self._pending = 0
        self.resumed = True
        self.running = True
        if self._use_timer:
            self._timer = machine.Timer(self._timer_id)
            self._timer.init(freq=self.rate, mode=machine.Timer.PERIODIC, callback=self._isr)
        else:
            self.channels.adc.drdy.irq(handler=self._isr, trigger=machine.Pin.IRQ_FALLING)

    def stop(self):
        # Ask to stop at the next block boundary (or now, if already on one).
        if self.running:
            if self.ring.at_block_start():
                self._halt()
            else:
                self._stopping = True

    def _halt(self):
        self.running = False
        self._stopping = False
        if self._timer is not None:
            self._timer.deinit()
            self._timer = None
        else:
            self.channels.adc.drdy.irq(handler=None)
        self._flag.set()

    def kick(self, now):
        # Called by the stream task: if the data-ready line has gone quiet for 4 periods while
        # sampling (a missed edge leaves some chips' DRDY asserted, with no new edge to come),
        # read once by hand, which releases it. Returns True if it had to.
        if not self.running or self._use_timer or self._last < 0:
            return False
        if ((now - self._last) & _TICK_MASK) < (self._period << 2):
            return False
        self.stalls += 1
        self._isr(None)
        return True

    def _isr(self, _src):
        if not self.running:
            return
        t = time.ticks_us() & _TICK_MASK  # type: ignore[operator]  # stubs keep ticks opaque
        if not self._use_timer and _src is not None and not self.channels.adc.ready():
            return  # an edge with no result (HX711's DOUT toggles while it is read)
        last = self._last
        if self._use_timer and last >= 0 and ((t - last) & _TICK_MASK) < (self._period >> 1):
            # A timer callback that ran bunched behind the one before: both waited in the
            # scheduler's queue through a stall (a flash write) and are stamped when they run.
            # One reading stands for that moment; the gap before it counted the periods lost.
            return
        ring = self.ring
        try:
            self.channels.read_into(ring.data, ring.offset())
        except OSError:
            self.faults += 1
            return
        if last >= 0:
            d = (t - last) & _TICK_MASK
            if d > self._late:
                self.missed += (d + (self._period >> 1)) // self._period - 1
        self._last = t
        ring.commit(t)
        if self._stopping and ring.at_block_start():
            self._halt()
            return
        self._pending += 1
        if self._pending >= self.batch:
            self._pending = 0
            self._flag.set()
