# A broken chip makes begin() raise SensorFault with a helpful message; a chip lost after
# begin() makes read() raise OSError. Usage: drv_faults.py CHIP MODE|lost|spi_mode
import sys

from drv_util import Steady, report, setup
from fm.errors import SensorFault

chip, mode = sys.argv[1], sys.argv[2]
w, adc = setup(chip, Steady(1.0, 0, 0, 100.0))
name = "nau7802" if chip == "stylus" else chip
res = {"raised": None, "message": ""}
if mode == "spi_mode":
    adc.spi.init(phase=0)  # wrong SPI mode: the ADS1220 answers garbage
elif mode != "lost":
    w.fail(name, mode)
t0 = w.now() / 1e6
try:
    adc.begin()
except SensorFault as e:
    res["raised"] = "SensorFault"
    res["message"] = str(e)
res["seconds"] = w.now() / 1e6 - t0
if mode == "lost":
    w.fail(name, "nack")
    try:
        adc.read()
        res["read"] = "ok"
    except OSError as e:
        res["read"] = f"OSError {e.errno}"
report(**res)
