# Texas Instruments ADS1220: 24-bit delta-sigma ADC on SPI (mode 1), for the grip beam when
# rates above 320 SPS are wanted (rate of force development needs ~1 kSPS).
#
# Configuration: AIN0/AIN1 through the PGA, ratiometric reference on REFP0/REFN0 (the bridge
# excitation), continuous conversion; 2000 SPS uses turbo mode. DRDY falls when a result is
# ready. read() runs in the sampling interrupt: one RDATA transfer between preallocated
# buffers, no heap.
import time

from micropython import const

from fm.errors import SensorFault

_RESET = const(0x06)
_START = const(0x08)
_RDATA = const(0x10)
_RREG_ALL = const(0x23)
_WREG_ALL = const(0x43)
_WREG_1 = const(0x44)
_CM = const(0x04)
_TURBO = const(2 << 3)
_VREF_EXT0 = const(0x40)


class ADS1220:
    RATES = (20, 45, 90, 175, 330, 600, 1000, 2000)
    _DR = (0, 1, 2, 3, 4, 5, 6, 6)  # 2000 = DR 6 in turbo mode

    def __init__(self, spi, cs, drdy):
        self.spi = spi  # machine.SPI in mode 1: polarity=0, phase=1
        self.cs = cs
        self.drdy = drdy  # falling edge: result ready
        self.rate = 0
        self.gain = 0
        self._cfg = bytearray(5)  # WREG command + config registers 0..3
        self._back = bytearray(5)
        self._cmd = bytearray(1)
        self._tx = bytearray(4)
        self._rx = bytearray(4)
        self._tx[0] = _RDATA
        cs.value(1)

    def _command(self, c):
        self._cmd[0] = c
        self.cs.value(0)
        self.spi.write(self._cmd)
        self.cs.value(1)

    def _cfg1(self, i):
        return (self._DR[i] << 5) | (_TURBO if self.RATES[i] == 2000 else 0) | _CM

    # -- set-up -----------------------------------------------------------------------------
    def begin(self, rate=1000, gain=128):
        # Reset, configure, check by read-back, start; raises SensorFault on a bad chip.
        self._command(_RESET)
        time.sleep_us(100)  # 50 us + 32 clocks before the next command
        g = 0
        while g < 7 and (2 << g) <= gain:
            g += 1
        self.gain = 1 << g
        i = self._nearest(rate)
        cfg = self._cfg
        cfg[0] = _WREG_ALL
        cfg[1] = g << 1
        cfg[2] = self._cfg1(i)
        cfg[3] = _VREF_EXT0
        cfg[4] = 0
        self.cs.value(0)
        self.spi.write(cfg)
        self.cs.value(1)
        back = self._back
        back[0] = _RREG_ALL
        for k in range(1, 5):
            back[k] = 0
        self.cs.value(0)
        self.spi.write_readinto(back, back)
        self.cs.value(1)
        if back[1:] != cfg[1:]:
            raise SensorFault(
                "ADS1220: config read back as %s, wrote %s: chip absent, CS/SPI wiring, "
                "or the SPI bus not in mode 1 (polarity=0, phase=1)"
                % (bytes(back[1:]).hex(), bytes(cfg[1:]).hex())
            )
        self.rate = self.RATES[i]
        self._command(_START)
        timeout = 3 * 1000 // self.rate + 20
        t0 = time.ticks_ms()
        while self.drdy.value():
            if time.ticks_diff(time.ticks_ms(), t0) > timeout:
                raise SensorFault(
                    "ADS1220: DRDY stayed high %d ms after START: DRDY wiring or a hung chip"
                    % timeout
                )
            time.sleep_ms(1)
        self.read()

    def _nearest(self, rate):
        best = 0
        for i in range(len(self.RATES)):
            if abs(self.RATES[i] - rate) < abs(self.RATES[best] - rate):
                best = i
        return best

    def set_rate(self, rate):
        # Nearest supported rate (SPS); returns it. Conversions restart at the new rate.
        i = self._nearest(rate)
        cfg = self._cfg
        cfg[2] = self._cfg1(i)
        b = self._back
        b[0] = _WREG_1
        b[1] = cfg[2]
        self.cs.value(0)
        self.spi.write(memoryview(b)[:2])
        self.cs.value(1)
        self.rate = self.RATES[i]
        return self.rate

    # -- sampling ---------------------------------------------------------------------------
    def ready(self):
        return self.drdy.value() == 0

    def read(self):
        # The latest result, signed 24-bit counts. Allocation-free.
        rx = self._rx
        self.cs.value(0)
        self.spi.write_readinto(self._tx, rx)
        self.cs.value(1)
        v = (rx[1] << 16) | (rx[2] << 8) | rx[3]
        if v & 0x800000:
            v -= 0x1000000
        return v
