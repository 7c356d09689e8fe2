# The stylus: tip force and barrel grip, streamed over BLE.
import asyncio

from boards import stylus as board
from fm import devices
from fm.kit import Kit

led, button, battery = devices.ui(board)
kit = Kit(devices.stylus(board), led, button, battery)
asyncio.run(kit.run())
