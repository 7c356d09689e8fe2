# A force-sensing resistor read through the ESP32's own ADC (barrel-grip pads on the stylus).
# The FSR sits in a divider to the ADC pin; read() gives 12-bit codes, allocation-free.
from machine import ADC, Pin


class ForceADC:
    def __init__(self, pin_no):
        self.pin_no = pin_no
        self._adc = ADC(Pin(pin_no), atten=ADC.ATTN_11DB)  # 0-3.1 V

    def read(self):
        # 0..4095.
        return self._adc.read_u16() >> 4
