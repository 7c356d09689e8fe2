# Avia HX711: 24-bit bridge ADC with a two-wire bit-banged interface (10 or 80 SPS), the
# low-cost option for the grip beam.
#
# DOUT falls when a result is ready (so `drdy` is the DOUT pin). A read clocks 24 bits out
# MSB first, then 1-3 more pulses choose the input for the next conversion: 25 = channel A
# gain 128, 26 = channel B gain 32, 27 = channel A gain 64. SCK high for more than 60 us
# powers the chip down, so the bit-bang runs with interrupts disabled. The rate is set by the
# RATE pin: driven through `rate_pin` if the board wires it to a GPIO, else strapped
# (`strap`, 80 SPS on our boards) and set_rate() reports the strapped rate.
import time

import machine
from micropython import const

from fm.errors import SensorFault

_PD_US = const(100)  # > 60 us: power down
_GAIN_PULSES = {128: 1, 32: 2, 64: 3}


class HX711:
    RATES = (10, 80)

    def __init__(self, dout, sck, rate_pin=None, strap=80):
        self.drdy = dout
        self._sck = sck
        self._rate_pin = rate_pin
        self._strap = strap
        self._extra = 1
        self._last = 0
        self.rate = strap
        self.gain = 128
        sck.value(0)

    def begin(self, rate=80, gain=128):
        # Power-cycle (reset to channel A, gain 128), select the gain, wait for data.
        if gain not in _GAIN_PULSES:
            raise ValueError("HX711 gain is 128, 64 (channel A) or 32 (channel B)")
        self.gain = gain
        self._extra = _GAIN_PULSES[gain]
        self.set_rate(rate)
        self._sck.value(1)
        time.sleep_us(_PD_US)
        self._sck.value(0)
        # Settling after power-up is 4 conversion periods (400 ms at 10 SPS, 50 ms at 80).
        settle = 4 * 1000 // self.rate
        self._wait(2 * settle + 50)
        self._shift()  # the extra pulses set the gain for the next conversion
        if gain != 128:
            self._wait(3 * 1000 // self.rate + 20)
            self._shift()  # that one was still at gain 128: drop it

    def _wait(self, timeout_ms):
        t0 = time.ticks_ms()
        while self.drdy.value():
            if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
                raise SensorFault(
                    "HX711: DOUT stayed high %d ms (no conversion): check DOUT/SCK wiring "
                    "and power" % timeout_ms
                )
            time.sleep_ms(1)

    def set_rate(self, rate):
        # 10 or 80 SPS through the RATE pin; without one, the strapped rate. Returns it.
        if self._rate_pin is None:
            self.rate = self._strap
        else:
            self.rate = 80 if rate >= 45 else 10
            self._rate_pin.value(1 if self.rate == 80 else 0)
        return self.rate

    def ready(self):
        return self.drdy.value() == 0

    def read(self):
        # The new result, signed 24-bit counts; the previous one if none is ready (a read
        # must not clock a conversion in progress). Allocation-free.
        if self.drdy.value():
            return self._last
        return self._shift()

    def _shift(self):
        sck = self._sck
        dout = self.drdy
        v = 0
        st = machine.disable_irq()
        for _ in range(24):
            sck.value(1)
            sck.value(0)
            v = (v << 1) | dout.value()
        for _ in range(self._extra):
            sck.value(1)
            sck.value(0)
        machine.enable_irq(st)
        if v & 0x800000:
            v -= 0x1000000
        self._last = v
        return v
