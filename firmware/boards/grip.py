# Pin map of the grip dynamometer (Espressif ESP32-S3-DevKitC-1).
# Generated from hardware/pinmap/grip.json by tools/gen_boards.py: edit the JSON, not this file.
from micropython import const

KIND = "grip"
BOARD = "Espressif ESP32-S3-DevKitC-1"
ADC_CHIP = "nau7802"
I2C_ID = const(0)
I2C_SDA = const(8)
I2C_SCL = const(9)
I2C_FREQ = const(400000)
NAU7802_ADDR = const(0x2A)
NAU7802_DRDY = const(10)
SPI_ID = const(1)
SPI_SCK = const(12)
SPI_MOSI = const(11)
SPI_MISO = const(13)
ADS1220_CS = const(14)
ADS1220_DRDY = const(15)
HX711_DOUT = const(16)
HX711_SCK = const(17)
BAT_ADC = const(4)
BAT_DIV_NUM = const(2)
BAT_DIV_DEN = const(1)
LED_PIN = const(21)
LED_ACTIVE_LOW = const(0)
BUTTON_PIN = const(7)
BUTTON_ACTIVE_LOW = const(1)
