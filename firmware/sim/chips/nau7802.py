# Simulated Nuvoton NAU7802 24-bit bridge ADC on I2C, at register level.
#
# Registers: PU_CTRL (RR, PUD, PUA, PUR, CS, CR, AVDDS), CTRL1 (GAINS, VLDO, CRP), CTRL2
# (CALMOD, CALS, CAL_ERR, CRS), OCAL1, ADCO_B2..B0, ADC, PGA, POWER, DEVICE_REV (0x0F).
# Power-up ready (PUR) comes 400 us after PUD+PUA; offset calibration (CALS) takes two
# conversion periods plus 1 ms; conversions run while PUR and CS are set. Each conversion
# sets CR and asserts DRDY (high, or low when CRP=1); reading ADCO clears CR and releases DRDY.
# Unread data is overwritten and DRDY stays asserted: no new edge until the result is read.
# Register reads and writes copy bytes only: the counts were computed at the conversion.
from chips.bridge import NEVER, BridgeChip

_PU_CTRL = 0x00
_CTRL1 = 0x01
_CTRL2 = 0x02
_OCAL1 = 0x03
_ADCO_B2 = 0x12
_ADCO_B0 = 0x14
_REV = 0x1F
_RR = 0x01
_PUD = 0x02
_PUA = 0x04
_PUR = 0x08
_CS = 0x10
_CR = 0x20
_CRP = 0x80
_CALMOD = 0x03
_CALS = 0x04
_CAL_ERR = 0x08
_CRS_SPS = (10, 20, 40, 80, 10, 10, 10, 320)
_PUR_DELAY_US = 400


class NAU7802(BridgeChip):
    NAME = "nau7802"
    NOISE_128 = 40.0  # counts RMS at gain 128, 10 SPS
    NOISE_SPS = 10

    def __init__(self, world, cell, channel, addr, drdy_pin):
        super().__init__(world, cell, channel, 8000)
        self.addr = addr
        self.drdy_pin = drdy_pin
        self.regs = bytearray(32)
        self.ack = True
        self.ptr = 0  # register pointer for plain writeto/readfrom
        self.internal_offset = world.rng.irange(-3000, 3000)  # counts at gain 128
        self.ocal = 0
        self._pur_at = NEVER
        self._cal_at = NEVER
        self._reset(0)

    # -- state ------------------------------------------------------------------------------
    def _reset(self, t):
        r = self.regs
        for i in range(32):
            r[i] = 0
        r[_REV] = 0x0F
        self.ocal = 0
        self._pur_at = NEVER
        self._cal_at = NEVER
        self.stop()
        self._resched()
        self._drdy(t)

    def gain(self):
        return 1 << (self.regs[_CTRL1] & 0x07)

    def counts_per_mvv(self):
        # Input range +-0.5*VREF/gain, reference ratiometric with the bridge excitation.
        return 2 * self.gain() * 8388.608

    def chip_offset(self):
        return self.internal_offset * self.gain() // 128 - self.ocal

    def _drdy(self, t):
        r = self.regs
        level = 1 if r[_PU_CTRL] & _CR else 0
        if r[_CTRL1] & _CRP:
            level ^= 1
        self.world.drive(self.drdy_pin, level, t)

    def _resched(self):
        n = self._conv_at
        if self._pur_at < n:
            n = self._pur_at
        if self._cal_at < n:
            n = self._cal_at
        self.next_us = n

    def _update(self, t):
        r = self.regs
        pu = r[_PU_CTRL]
        run = pu & _PUR and pu & _CS and self._cal_at == NEVER and not self.dead()
        rate = _CRS_SPS[(r[_CTRL2] >> 4) & 7]
        if run and (not self._conv_at < NEVER or rate != self.rate):
            self.start(t, rate, 2 * self.period_ns(rate) // 1000)
        elif not run:
            self.stop()
        self._resched()

    # -- I2C --------------------------------------------------------------------------------
    def i2c_read(self, reg, buf, n):
        r = self.regs
        hit = False
        for i in range(n):
            a = (reg + i) & 0x1F
            buf[i] = r[a]
            if _ADCO_B2 <= a <= _ADCO_B0:
                hit = True
        if hit and r[_PU_CTRL] & _CR:
            r[_PU_CTRL] &= ~_CR
            self._drdy(self.world.now())

    def i2c_write(self, reg, buf, start, n):
        t = self.world.now()
        for i in range(n):
            self._write(t, (reg + i) & 0x1F, buf[start + i])

    def _write(self, t, a, v):
        r = self.regs
        if a == _PU_CTRL:
            if v & _RR:
                self._reset(t)
                r[_PU_CTRL] = _RR
                return
            old = r[_PU_CTRL]
            new = (v & ~(_PUR | _CR)) | (old & (_PUR | _CR))
            if not (new & _PUD and new & _PUA):
                new &= ~(_PUR | _CR)
                self._pur_at = NEVER
                self._cal_at = NEVER
            elif not new & _PUR and self._pur_at == NEVER:
                self._pur_at = t + _PUR_DELAY_US
            r[_PU_CTRL] = new
            self._drdy(t)
            self._update(t)
        elif a == _CTRL1:
            old = r[_CTRL1]
            r[_CTRL1] = v
            if (old ^ v) & 0x07 and self._conv_at < NEVER:
                self.stop()  # a new gain restarts the conversion
            self._drdy(t)
            self._update(t)
        elif a == _CTRL2:
            old = r[_CTRL2]
            r[_CTRL2] = (v & ~(_CALS | _CAL_ERR)) | (old & (_CALS | _CAL_ERR))
            if v & _CALS:
                r[_CTRL2] = (r[_CTRL2] & ~_CAL_ERR) | _CALS
                if not r[_PU_CTRL] & _PUR:
                    r[_CTRL2] = (r[_CTRL2] & ~_CALS) | _CAL_ERR
                else:
                    rate = _CRS_SPS[(v >> 4) & 7]
                    self._cal_at = t + 2 * self.period_ns(rate) // 1000 + 1000
                    self.stop()
            self._update(t)
        elif _OCAL1 <= a <= _OCAL1 + 2:
            r[a] = v
            o = (r[_OCAL1] << 16) | (r[_OCAL1 + 1] << 8) | r[_OCAL1 + 2]
            self.ocal = o - 0x1000000 if o & 0x800000 else o
        elif a < _ADCO_B2 or a > _ADCO_B0 and a != _REV:
            r[a] = v

    # -- events -----------------------------------------------------------------------------
    def fire(self, t):
        r = self.regs
        if self._pur_at <= t:
            self._pur_at = NEVER
            r[_PU_CTRL] |= _PUR
            self._update(t)
        if self._cal_at <= t:
            self._finish_cal(t)
        if self._conv_at <= t:
            self._next_conv()
            if not self.dead():
                c = self.convert(t, self.counts_per_mvv(), self.chip_offset(), self.noise_rms(self.gain()))
                c &= 0xFFFFFF
                r[_ADCO_B2] = c >> 16
                r[_ADCO_B2 + 1] = (c >> 8) & 0xFF
                r[_ADCO_B0] = c & 0xFF
                r[_PU_CTRL] |= _CR
                self._drdy(t)
        self._resched()

    def _finish_cal(self, t):
        r = self.regs
        self._cal_at = NEVER
        ctrl2 = r[_CTRL2] & ~_CALS
        mode = ctrl2 & _CALMOD
        if self.failed == "cal":
            ctrl2 |= _CAL_ERR
        elif mode == 0:  # internal offset: remove the chip's own offset
            self.ocal = self.internal_offset * self.gain() // 128
        elif mode == 2:  # system offset: whatever the bridge gives now becomes zero
            f = self.world.force(self.channel, t)
            zero = self.cell.mvv(f, t / 1_000_000) * self.counts_per_mvv()
            self.ocal = int(zero) + self.internal_offset * self.gain() // 128
        o = self.ocal & 0xFFFFFF
        r[_OCAL1] = o >> 16
        r[_OCAL1 + 1] = (o >> 8) & 0xFF
        r[_OCAL1 + 2] = o & 0xFF
        r[_CTRL2] = ctrl2
        self._update(t)

    def fail(self, mode):
        self.failed = mode
        self.ack = mode != "nack"
        if mode in ("nack", "stuck"):
            self.stop()
            self._resched()
