# Simulated TI ADS1220 24-bit delta-sigma ADC on SPI (mode 1), at command level.
#
# Commands: RESET (0x06), START/SYNC (0x08), POWERDOWN (0x02), RDATA (0x10), RREG (0x2r|n),
# WREG (0x4r|n). Config: reg0 MUX[7:4] GAIN[3:1] PGA_BYPASS[0]; reg1 DR[7:5] MODE[4:3]
# (normal/duty-cycle/turbo) CM[2]; reg2 VREF[7:6] (internal 2.048 V, or ratiometric with the
# bridge excitation); reg3. The chip listens only while CS is low; CS high ends a command.
# DRDY goes low when a result is ready and high on the first byte that reads it; a result
# left unread is replaced with a short high pulse on DRDY, so every conversion is an edge.
# Writing a register while converting restarts the conversion. MUX other than AIN0/AIN1
# reads an input with no signal (offset and noise only).
from chips.bridge import NEVER, BridgeChip

_NORMAL = (20, 45, 90, 175, 330, 600, 1000, 1000)
_DUTY = (5, 11, 22, 44, 82, 150, 250, 250)
_TURBO = (40, 90, 180, 350, 660, 1200, 2000, 2000)
_IDLE = 0
_DATA = 1
_RREG = 2
_WREG = 3
_VEXC_OVER_VINT = 3.3 / 2.048


class ADS1220(BridgeChip):
    NAME = "ads1220"
    NOISE_128 = 20.0  # counts RMS at gain 128, 20 SPS
    NOISE_SPS = 20

    def __init__(self, world, cell, channel, cs_pin, drdy_pin):
        super().__init__(world, cell, channel, 5000)
        self.cs_pin = cs_pin
        self.drdy_pin = drdy_pin
        self.polarity = 0
        self.phase = 1
        self.regs = bytearray(4)
        self.data = bytearray(3)
        self.internal_offset = world.rng.irange(-200, 200)
        self._state = _IDLE
        self._reg = 0
        self._left = 0
        self._idx = 0
        self._fresh = False
        self._single = False
        self._changed = False
        world.drive(drdy_pin, 1, 0)
        world.pin(cs_pin).listener = self

    def gain(self):
        return 1 << ((self.regs[0] >> 1) & 7)

    def sps(self):
        r1 = self.regs[1]
        mode = (r1 >> 3) & 3
        table = _TURBO if mode == 2 else _DUTY if mode == 1 else _NORMAL
        return table[r1 >> 5]

    def counts_per_mvv(self):
        # Input range +-VREF/gain; VREF ratiometric unless the internal 2.048 V is chosen.
        f = self.gain() * 8388.608
        return f * _VEXC_OVER_VINT if self.regs[2] >> 6 == 0 else f

    def _start(self, t):
        rate = self.sps()
        self.start(t, rate, self.period_ns(rate) // 1000 + 200)
        self.next_us = self._conv_at

    # -- pins and SPI -----------------------------------------------------------------------
    def on_pin(self, pin, level, t):
        if level:  # CS high: any command in progress ends
            self._state = _IDLE
            if self._changed:
                self._changed = False
                if self._conv_at < NEVER:
                    self._start(t)

    def spi_byte(self, tx):
        if self.failed == "nack":
            return 0xFF
        st = self._state
        if st == _DATA:
            rx = self.data[self._idx]
            self._idx += 1
            if self._idx == 3:
                self._state = _IDLE
            return rx
        if st == _RREG:
            rx = self.regs[self._reg]
            self._reg += 1
            self._left -= 1
            if not self._left:
                self._state = _IDLE
            return rx
        if st == _WREG:
            self.regs[self._reg] = tx
            self._reg += 1
            self._left -= 1
            self._changed = True
            if not self._left:
                self._state = _IDLE
            return 0xFF
        return self._command(tx)

    def _command(self, tx):
        t = self.world.now()
        if tx == 0x00 and self._fresh and self._idx < 3:  # direct read: data without RDATA
            self._retrieve(t)
            rx = self.data[self._idx]
            self._idx += 1
            return rx
        if tx & 0xF0 == 0x10:  # RDATA
            self._retrieve(t)
            self._idx = 0
            self._state = _DATA
        elif tx & 0xF0 == 0x20:  # RREG
            self._reg = (tx >> 2) & 3
            self._left = (tx & 3) + 1
            self._state = _RREG
        elif tx & 0xF0 == 0x40:  # WREG
            self._reg = (tx >> 2) & 3
            self._left = min((tx & 3) + 1, 4 - self._reg)
            self._state = _WREG
        elif tx & 0xFE == 0x06:  # RESET
            for i in range(4):
                self.regs[i] = 0
            self.stop()
            self.next_us = self._conv_at
            self._fresh = False
            self._changed = False
        elif tx & 0xFE == 0x08:  # START/SYNC
            self._single = not self.regs[1] & 0x04
            if not self.dead():
                self._start(t)
        elif tx & 0xFE == 0x02:  # POWERDOWN
            self.stop()
            self.next_us = self._conv_at
        return 0xFF

    def _retrieve(self, t):
        if self._fresh:
            self._fresh = False
            self.world.drive(self.drdy_pin, 1, t)

    # -- events -----------------------------------------------------------------------------
    def fire(self, t):
        self._next_conv()
        if self._single:
            self.stop()
        if self.dead():
            self.stop()
        else:
            gain = self.gain()
            cpm = self.counts_per_mvv() if self.regs[0] >> 4 == 0 else 0.0
            off = self.chip_offset()
            c = self.convert(t, cpm, off, self.noise_rms(gain)) & 0xFFFFFF
            d = self.data
            d[0] = c >> 16
            d[1] = (c >> 8) & 0xFF
            d[2] = c & 0xFF
            w = self.world
            if self._fresh:  # unread: a short high pulse, then low again
                w.drive(self.drdy_pin, 1, t)
            self._fresh = True
            self._idx = 0
            w.drive(self.drdy_pin, 0, t)
        self.next_us = self._conv_at

    def fail(self, mode):
        self.failed = mode
        if self.dead():
            self.stop()
            self.next_us = self._conv_at
            self.world.drive(self.drdy_pin, 1, self.world.now())
