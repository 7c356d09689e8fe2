# Battery voltage through a resistor divider on an ESP32 ADC pin, and the charge left in a
# single-cell LiPo, interpolated from its resting discharge curve.
from machine import ADC, Pin

# Cell millivolts at 0, 5, 10 ... 100 % charge (resting, 25 C).
_CURVE = (
    3270, 3610, 3690, 3710, 3730, 3750, 3770, 3790, 3800, 3820, 3840,
    3850, 3870, 3910, 3950, 3980, 4020, 4080, 4110, 4150, 4200,
)  # fmt: skip
_SAMPLES = 8


class Battery:
    def __init__(self, pin_no, div_num, div_den):
        self._adc = ADC(Pin(pin_no), atten=ADC.ATTN_11DB)
        self._num = div_num
        self._den = div_den

    def millivolts(self):
        # Cell voltage (mV), the mean of a few calibrated ADC readings times the divider ratio.
        s = 0
        for _ in range(_SAMPLES):
            s += self._adc.read_uv()
        return s * self._num // (_SAMPLES * 1000 * self._den)

    def percent(self, mv=None):
        # Charge left, 0-100 %.
        if mv is None:
            mv = self.millivolts()
        c = _CURVE
        if mv <= c[0]:
            return 0
        for i in range(1, len(c)):
            if mv < c[i]:
                return 5 * (i - 1) + 5 * (mv - c[i - 1]) // (c[i] - c[i - 1])
        return 100
