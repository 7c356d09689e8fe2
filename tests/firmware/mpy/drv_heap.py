# Heap taken by the simulation and the drivers, with the real simulated student as the force
# source. Usage: drv_heap.py KIND [ADC_CHIP]. Prints JSON (bytes, after a collection).
import gc
import sys

gc.collect()
base = gc.mem_alloc()
import asyncio  # noqa: E402, F401  (the firmware imports it anyway)

gc.collect()
after_asyncio = gc.mem_alloc()
from machine import I2C, SPI, Pin  # noqa: E402
from world import World  # noqa: E402

gc.collect()
after_sim = gc.mem_alloc()
from drv_util import report  # noqa: E402
from student import Student  # noqa: E402

kind = sys.argv[1]
chip = sys.argv[2] if len(sys.argv) > 2 else None
s = Student(seed=3)
gc.collect()
after_student = gc.mem_alloc()
w = World(kind, seed=3, source=s, adc_chip=chip)
gc.collect()
after_world = gc.mem_alloc()
from fm.drivers.battery import Battery  # noqa: E402
from fm.drivers.button import Button  # noqa: E402
from fm.drivers.led import Led  # noqa: E402

b = w.board
chip = "nau7802" if kind == "stylus" else chip or b.ADC_CHIP
if chip == "nau7802":
    from fm.drivers.nau7802 import NAU7802

    i2c = I2C(b.I2C_ID, scl=Pin(b.I2C_SCL), sda=Pin(b.I2C_SDA), freq=b.I2C_FREQ)
    adc = NAU7802(i2c, b.NAU7802_ADDR, Pin(b.NAU7802_DRDY, Pin.IN))
elif chip == "ads1220":
    from fm.drivers.ads1220 import ADS1220

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
    from fm.drivers.hx711 import HX711

    adc = HX711(Pin(b.HX711_DOUT, Pin.IN), Pin(b.HX711_SCK, Pin.OUT))
adc.begin()
ui = (
    Led(b.LED_PIN, b.LED_ACTIVE_LOW),
    Button(b.BUTTON_PIN, b.BUTTON_ACTIVE_LOW),
    Battery(b.BAT_ADC, b.BAT_DIV_NUM, b.BAT_DIV_DEN),
)
if kind == "stylus":
    from fm.drivers.adc_force import ForceADC

    fsr = (ForceADC(b.FSR_A_ADC), ForceADC(b.FSR_B_ADC))
gc.collect()
after_drivers = gc.mem_alloc()
lo = [1 << 30, -(1 << 30)]


def on_ready(pin):
    if adc.ready():
        v = adc.read()
        lo[0] = min(lo[0], v)
        lo[1] = max(lo[1], v)


adc.drdy.irq(handler=on_ready, trigger=Pin.IRQ_FALLING)
w.advance(5_000_000)  # five seconds of the student writing or squeezing
gc.collect()
report(
    asyncio=after_asyncio - base,
    sim=after_sim - after_asyncio,
    student=after_student - after_sim,
    world=after_world - after_student,
    drivers=after_drivers - after_world,
    running=gc.mem_alloc() - after_drivers,
    free=gc.mem_free(),
    min=lo[0],
    max=lo[1],
    errors=w.irq_errors,
)
