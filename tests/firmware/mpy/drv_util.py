# Shared by the drv_*.py driver tests: a steady stand-in for the simulated student, and the
# world plus bridge-ADC driver for a device, wired the way the firmware wires them.
import json
import sys

from machine import I2C, SPI, Pin
from world import World


class Steady:
    # Constant forces: tip, barrel A, barrel B (N) for the stylus, `grip` (N) for the grip.
    def __init__(self, tip=0.0, a=0.0, b=0.0, grip=0.0):
        self.f = (tip, a, b)
        self.g = grip

    def pen(self, t):
        return self.f

    def grip(self, t):
        return self.g


def setup(chip, source=None, seed=1, **kw):
    # chip: "stylus" (NAU7802 on the stylus) or a grip ADC: "nau7802", "ads1220", "hx711".
    kind = "stylus" if chip == "stylus" else "grip"
    w = World(kind, seed=seed, source=source, adc_chip=None if kind == "stylus" else chip, **kw)
    b = w.board
    if chip in ("stylus", "nau7802"):
        from fm.drivers.nau7802 import NAU7802  # noqa: PLC0415  (only the chip fitted)

        i2c = I2C(b.I2C_ID, scl=Pin(b.I2C_SCL), sda=Pin(b.I2C_SDA), freq=b.I2C_FREQ)
        adc = NAU7802(i2c, b.NAU7802_ADDR, Pin(b.NAU7802_DRDY, Pin.IN))
    elif chip == "ads1220":
        from fm.drivers.ads1220 import ADS1220  # noqa: PLC0415

        spi = SPI(
            b.SPI_ID,
            baudrate=1000000,
            polarity=0,
            phase=1,
            sck=Pin(b.SPI_SCK),
            mosi=Pin(b.SPI_MOSI),
            miso=Pin(b.SPI_MISO),
        )
        adc = ADS1220(spi, Pin(b.ADS1220_CS, Pin.OUT), Pin(b.ADS1220_DRDY, Pin.IN))
    else:
        from fm.drivers.hx711 import HX711  # noqa: PLC0415

        adc = HX711(Pin(b.HX711_DOUT, Pin.IN), Pin(b.HX711_SCK, Pin.OUT))
    return w, adc


def channel(chip):
    return "tip" if chip == "stylus" else "grip"


def report(**d):
    # Streamed: no one string of the whole report (a contiguous block the heap may not have).
    json.dump(d, sys.stdout)
    print()
