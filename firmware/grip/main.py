# The grip dynamometer: squeeze force, streamed over BLE.
import asyncio

from boards import grip as board
from fm import devices
from fm.kit import Kit

led, button, battery = devices.ui(board)
kit = Kit(devices.grip(board), led, button, battery)
asyncio.run(kit.run())
