# The two devices: which drivers, which channels, which trigger and rates, from a board pin map.
from machine import I2C, SPI, Pin

from fm.channels import GripChannels, StylusChannels
from fm.errors import SensorFault
from fm.drivers.adc_force import ForceADC
from fm.drivers.battery import Battery
from fm.drivers.button import Button
from fm.drivers.led import Led


class Device:
    def __init__(
        self, kind, model, channels, use_timer, default_rate, min_rate, max_rate, fault=None
    ):
        self.fault = fault  # why the force sensor did not start (None: it did)
        self.kind = kind
        self.model = model
        self.channels = channels
        self.use_timer = use_timer
        self.default_rate = default_rate
        self.min_rate = min_rate
        self.max_rate = max_rate


def _begin(adc, rate, gain, *ldo):
    # Start a bridge ADC; the reason if it does not answer. The kit still comes up (and says
    # so in its status) rather than dying where nobody can see it.
    try:
        adc.begin(rate, gain, *ldo)
    except (SensorFault, OSError) as e:
        print("force sensor fault:", e)
        return str(e)
    return None


def _i2c(board):
    return I2C(board.I2C_ID, scl=Pin(board.I2C_SCL), sda=Pin(board.I2C_SDA), freq=board.I2C_FREQ)


def stylus(board):
    # Tip load cell via NAU7802 at 320 SPS, read with both FSR pads at 200 Hz from a timer.
    from fm.drivers.nau7802 import NAU7802

    adc = NAU7802(_i2c(board), board.NAU7802_ADDR, Pin(board.NAU7802_DRDY, Pin.IN))
    fault = _begin(adc, 320, 8, 3000)  # gain 8, 3.0 V: the tip cell's 0-10 N (hardware/)
    ch = StylusChannels(adc, ForceADC(board.FSR_A_ADC), ForceADC(board.FSR_B_ADC))
    return Device("stylus", "FM-STYLUS-1", ch, True, 200, 100, 200, fault)


def grip(board, chip=None):
    # Dynamometer beam via the bridge ADC fitted (NAU7802, ADS1220 or HX711), one sample per
    # conversion, triggered by its data-ready line.
    chip = chip or board.ADC_CHIP
    if chip == "ads1220":
        from fm.drivers.ads1220 import ADS1220

        spi = SPI(
            board.SPI_ID,
            baudrate=1000000,
            polarity=0,
            phase=1,
            sck=Pin(board.SPI_SCK),
            mosi=Pin(board.SPI_MOSI),
            miso=Pin(board.SPI_MISO),
        )
        ads = ADS1220(spi, Pin(board.ADS1220_CS, Pin.OUT), Pin(board.ADS1220_DRDY, Pin.IN))
        fault = _begin(ads, 1000, 128)
        return Device("grip", "FM-GRIP-1-ADS", GripChannels(ads), False, 1000, 175, 1000, fault)
    if chip == "hx711":
        from fm.drivers.hx711 import HX711

        hx = HX711(Pin(board.HX711_DOUT, Pin.IN), Pin(board.HX711_SCK, Pin.OUT))
        fault = _begin(hx, 80, 128)
        return Device("grip", "FM-GRIP-1-HX", GripChannels(hx), False, 80, 80, 80, fault)
    from fm.drivers.nau7802 import NAU7802

    adc = NAU7802(_i2c(board), board.NAU7802_ADDR, Pin(board.NAU7802_DRDY, Pin.IN))
    fault = _begin(adc, 320, 128, 2700)  # 2.7 V: a 350 ohm bridge within the LDO's 10 mA
    return Device("grip", "FM-GRIP-1", GripChannels(adc), False, 320, 80, 320, fault)


def ui(board):
    # Status LED, pairing button and battery sense, common to both devices.
    return (
        Led(board.LED_PIN, board.LED_ACTIVE_LOW),
        Button(board.BUTTON_PIN, board.BUTTON_ACTIVE_LOW),
        Battery(board.BAT_ADC, board.BAT_DIV_NUM, board.BAT_DIV_DEN),
    )
