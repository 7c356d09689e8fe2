# Nuvoton NAU7802: 24-bit bridge ADC on I2C, for the stylus tip load cell and the grip beam.
#
# begin() resets the chip, powers it up, sets the internal LDO (3.0 V excitation), gain and
# rate, runs the internal offset calibration and starts continuous conversions. DRDY is set
# active low (CRP=1), so like the other bridge ADCs a falling edge means "result ready".
# read() runs in the sampling interrupt: one I2C burst into a preallocated buffer, no heap.
import time

from micropython import const

from fm.errors import SensorFault

_PU_CTRL = const(0x00)
_CTRL1 = const(0x01)
_CTRL2 = const(0x02)
_ADCO_B2 = const(0x12)
_ADC = const(0x15)
_POWER = const(0x1C)
_REV = const(0x1F)
_RR = const(0x01)
_PUD = const(0x02)
_PUA = const(0x04)
_PUR = const(0x08)
_CS = const(0x10)
_CR = const(0x20)
_AVDDS = const(0x80)
_CRP_LOW = const(0x80)
_CALS = const(0x04)
_CAL_ERR = const(0x08)
_CALMOD = const(0x03)
_CRS = const(0x70)
_CHPS_OFF = const(0x30)
_PGA_CAP_EN = const(0x80)
_PUR_MS = const(100)
_CAL_MS = const(1500)


class NAU7802:
    RATES = (10, 20, 40, 80, 320)
    _CRS_CODES = (0, 1, 2, 3, 7)

    def __init__(self, i2c, addr=0x2A, drdy=None):
        self.i2c = i2c
        self.addr = addr
        self.drdy = drdy  # machine.Pin (falling edge: result ready) or None
        self.rate = 0
        self.gain = 0
        self._b1 = bytearray(1)
        self._b3 = bytearray(3)

    # -- registers --------------------------------------------------------------------------
    def _rd(self, reg):
        self.i2c.readfrom_mem_into(self.addr, reg, self._b1)
        return self._b1[0]

    def _wr(self, reg, value):
        self._b1[0] = value
        self.i2c.writeto_mem(self.addr, reg, self._b1)

    def _where(self):
        return "NAU7802 at I2C 0x%02X" % self.addr

    def _wait(self, reg, mask, want, timeout_ms, what):
        # Poll a register until (value & mask) == want; SensorFault after timeout_ms.
        t0 = time.ticks_ms()
        while self._rd(reg) & mask != want:
            if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
                raise SensorFault("%s: %s timed out after %d ms" % (self._where(), what, timeout_ms))
            time.sleep_ms(1)

    # -- set-up -----------------------------------------------------------------------------
    def begin(self, rate=320, gain=128, ldo_mv=3000):
        # Reset, power up, configure and calibrate; raises SensorFault if the chip misbehaves.
        # ldo_mv: the bridge excitation from the internal regulator, 2400-4500 mV in 300 mV
        # steps (hardware/README.md: 3.0 V for the stylus, 2.7 V for the grip's 350 ohm bridge).
        try:
            self._wr(_PU_CTRL, _RR)
        except OSError as e:
            raise SensorFault(
                "%s: no ACK (%s): check SDA/SCL wiring, pull-ups, 3.3 V and the address"
                % (self._where(), e)
            )
        time.sleep_ms(1)
        self._wr(_PU_CTRL, _PUD)
        self._wr(_PU_CTRL, _PUD | _PUA)
        self._wait(_PU_CTRL, _PUR, _PUR, _PUR_MS, "power-up (PUR)")
        rev = self._rd(_REV)
        if rev & 0x0F != 0x0F:
            raise SensorFault("%s: revision 0x%02X is not a NAU7802's" % (self._where(), rev))
        g = 0
        while g < 7 and (2 << g) <= gain:
            g += 1
        self.gain = 1 << g
        vldo = (4500 - ldo_mv) // 300
        vldo = 0 if vldo < 0 else (7 if vldo > 7 else vldo)
        self._wr(_CTRL1, _CRP_LOW | (vldo << 3) | g)
        self._wr(_PU_CTRL, _PUD | _PUA | _AVDDS)
        self._wr(_ADC, _CHPS_OFF)
        self._wr(_POWER, _PGA_CAP_EN)
        self.set_rate(rate)
        self._wr(_PU_CTRL, _PUD | _PUA | _AVDDS | _CS)
        self.calibrate()
        period_ms = 1000 // self.rate
        self._wait(_PU_CTRL, _CR, _CR, 4 * period_ms + 50, "first conversion (CR)")
        self.read()  # releases DRDY: the next result gives a clean falling edge

    def calibrate(self):
        # Internal offset calibration (inputs shorted inside the chip).
        c2 = self._rd(_CTRL2) & ~(_CALMOD | _CAL_ERR)
        self._wr(_CTRL2, c2 | _CALS)
        self._wait(_CTRL2, _CALS, 0, _CAL_MS, "offset calibration (CALS)")
        if self._rd(_CTRL2) & _CAL_ERR:
            raise SensorFault("%s: offset calibration failed (CAL_ERR)" % self._where())

    def set_rate(self, rate):
        # Nearest supported rate (SPS); returns it.
        best = 0
        for i in range(len(self.RATES)):
            if abs(self.RATES[i] - rate) < abs(self.RATES[best] - rate):
                best = i
        c2 = self._rd(_CTRL2) & ~(_CRS | _CALS)
        self._wr(_CTRL2, c2 | (self._CRS_CODES[best] << 4))
        self.rate = self.RATES[best]
        return self.rate

    # -- sampling ---------------------------------------------------------------------------
    def ready(self):
        # A result waits to be read: the DRDY pin (low) if wired, else the CR bit over I2C.
        if self.drdy is not None:
            return self.drdy.value() == 0
        return bool(self._rd(_PU_CTRL) & _CR)

    def read(self):
        # The latest result, signed 24-bit counts. Allocation-free.
        b = self._b3
        self.i2c.readfrom_mem_into(self.addr, _ADCO_B2, b)
        v = (b[0] << 16) | (b[1] << 8) | b[2]
        if v & 0x800000:
            v -= 0x1000000
        return v
