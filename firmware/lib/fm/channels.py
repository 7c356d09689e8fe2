# Channel sets: read every sensor of a device once and pack one wire record.
# read_into() runs in the sampling interrupt path: no allocation, no floats.
from fm.wire import LAYOUT_GRIP, LAYOUT_STYLUS, REC_GRIP, REC_STYLUS, get_i24, put_i24, put_u12x2


class StylusChannels:
    # Axial tip load cell through a bridge ADC, and two barrel-grip FSR pads on the MCU's ADC.
    layout = LAYOUT_STYLUS
    rec = REC_STYLUS
    names = ("tip", "barrel_a", "barrel_b")

    def __init__(self, tip, fsr_a, fsr_b):
        self.adc = tip
        self._a = fsr_a
        self._b = fsr_b

    def read_into(self, buf, off):
        put_i24(buf, off, self.adc.read())
        put_u12x2(buf, off + 3, self._a.read(), self._b.read())

    @staticmethod
    def add_values(buf, off, acc):
        # Add the record's channel values to the accumulator list (not for the sampling path).
        acc[0] += get_i24(buf, off)
        v = buf[off + 3] | (buf[off + 4] << 8) | (buf[off + 5] << 16)
        acc[1] += v & 0xFFF
        acc[2] += v >> 12


class GripChannels:
    # The dynamometer's load-cell beam through a bridge ADC.
    layout = LAYOUT_GRIP
    rec = REC_GRIP
    names = ("force",)

    def __init__(self, adc):
        self.adc = adc

    def read_into(self, buf, off):
        put_i24(buf, off, self.adc.read())

    @staticmethod
    def add_values(buf, off, acc):
        acc[0] += get_i24(buf, off)
