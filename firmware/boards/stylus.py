# Pin map of the stylus (Seeed Studio XIAO ESP32S3).
# Generated from hardware/pinmap/stylus.json by tools/gen_boards.py: edit the JSON, not this file.
from micropython import const

KIND = "stylus"
BOARD = "Seeed Studio XIAO ESP32S3"
I2C_ID = const(0)
I2C_SDA = const(5)
I2C_SCL = const(6)
I2C_FREQ = const(400000)
NAU7802_ADDR = const(0x2A)
NAU7802_DRDY = const(4)
FSR_A_ADC = const(1)
FSR_B_ADC = const(2)
BAT_ADC = const(9)
BAT_DIV_NUM = const(2)
BAT_DIV_DEN = const(1)
LED_PIN = const(21)
LED_ACTIVE_LOW = const(1)
BUTTON_PIN = const(7)
BUTTON_ACTIVE_LOW = const(1)
