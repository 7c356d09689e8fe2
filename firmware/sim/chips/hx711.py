# Simulated Avia HX711 24-bit bridge ADC with its two-wire bit-banged interface.
#
# DOUT goes low when a conversion is ready. Each SCK rising edge shifts out the next bit, MSB
# first; the 25th rising edge pulls DOUT high again, and the total count of pulses (25, 26 or
# 27) selects channel A gain 128, channel B gain 32 or channel A gain 64 for the next
# conversion. SCK held high for more than 60 us powers the chip down; bringing it low again
# resets it (channel A, gain 128) and the first result comes after the settling time of four
# conversion periods. The rate is strapped (RATE pin: low 10 SPS, high 80 SPS); if the board
# wires RATE to a GPIO the chip follows it. Channel B has nothing connected.
from chips.bridge import NEVER, BridgeChip

_PD_US = 60
_GAINS = (128, 32, 64)  # A128, B32, A64
_NOISE = {10: 40.0, 80: 75.0}  # counts RMS at gain 128


class HX711(BridgeChip):
    NAME = "hx711"

    def __init__(self, world, cell, channel, dout_pin, sck_pin, rate_pin=None, strap=80):
        super().__init__(world, cell, channel, 20000)
        self.dout_pin = dout_pin
        self.sck_pin = sck_pin
        self.rate_pin = rate_pin
        self.strap = strap
        self.internal_offset = world.rng.irange(-2000, 2000)
        self.sel = 0
        self.pulses = 0
        self.ready = False
        self.data = 0
        self.sck = 0
        self.power_downs = 0
        self._t_rise = 0
        world.drive(dout_pin, 1, 0)
        world.pin(sck_pin).listener = self
        self._power_up(0)

    def strapped_rate(self):
        if self.rate_pin is None:
            return self.strap
        return 80 if self.world.pin_level(self.rate_pin) else 10

    def gain(self):
        return _GAINS[self.sel]

    def counts_per_mvv(self):
        return 2 * self.gain() * 8388.608  # input range +-0.5*AVDD/gain, ratiometric

    def _power_up(self, t):
        self.sel = 0
        self.pulses = 0
        self.ready = False
        rate = self.strapped_rate()
        if self.dead():
            self.stop()
        else:
            self.start(t, rate, 4 * self.period_ns(rate) // 1000)
        self.next_us = self._conv_at

    def on_pin(self, pin, level, t):
        if pin == self.rate_pin:
            return
        self.sck = level
        if level:
            self._t_rise = t
            if self.ready or self.pulses:
                n = self.pulses + 1
                self.pulses = n
                if n <= 24:
                    self.world.drive(self.dout_pin, (self.data >> (24 - n)) & 1, t)
                elif n == 25:
                    self.ready = False
                    self.world.drive(self.dout_pin, 1, t)
        elif t - self._t_rise > _PD_US:
            self.power_downs += 1
            self.world.drive(self.dout_pin, 1, t)
            self._power_up(t)

    def noise_rms(self, gain):
        return _NOISE[self.rate] * gain / 128

    def fire(self, t):
        if self.sck and t - self._t_rise > _PD_US:  # powered down until SCK goes low
            self.stop()
            self.next_us = NEVER
            return
        self._next_conv()
        rate = self.strapped_rate()
        if rate != self.rate:
            self.start(t, rate, self.period_ns(rate) // 1000)
        n = self.pulses
        if self.dead() or 0 < n < 25:
            self.next_us = self._conv_at  # hung, or a read in progress: result dropped
            return
        if n:
            self.sel = 0 if n == 25 else 1 if n == 26 else 2
            self.pulses = 0
        gain = self.gain()
        cpm = self.counts_per_mvv() if self.sel != 1 else 0.0
        off = self.chip_offset()
        self.data = self.convert(t, cpm, off, self.noise_rms(gain)) & 0xFFFFFF
        self.ready = True
        self.world.drive(self.dout_pin, 0, t)
        self.next_us = self._conv_at

    def fail(self, mode):
        self.failed = mode
        if self.dead():
            self.stop()
            self.next_us = NEVER
            self.ready = False
            self.world.drive(self.dout_pin, 1, self.world.now())
