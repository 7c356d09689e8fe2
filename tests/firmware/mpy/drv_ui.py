# Button (debounce, press duration, timeout), LED blink, battery voltage and percent.
import asyncio
import sys
import time

from drv_util import report
from fm.drivers.battery import Battery
from fm.drivers.button import Button
from fm.drivers.led import Led
from world import World

kind = sys.argv[1] if len(sys.argv) > 1 else "stylus"
w = World(kind)
b = w.board
btn = Button(b.BUTTON_PIN, b.BUTTON_ACTIVE_LOW)
led = Led(b.LED_PIN, b.LED_ACTIVE_LOW)
bat = Battery(b.BAT_ADC, b.BAT_DIV_NUM, b.BAT_DIV_DEN)
out = {}


def edges(no):
    p = w.pin(no)
    return p.rises, p.falls


async def press_later(delay_ms, hold_ms):
    await asyncio.sleep_ms(delay_ms)
    w.press_button(hold_ms)


async def timed(coro):
    t0 = time.ticks_ms()
    r = await coro
    return [r, time.ticks_diff(time.ticks_ms(), t0)]


async def main():
    tasks = []
    out["idle_pressed"] = btn.pressed()
    tasks.append(asyncio.create_task(press_later(100, 150)))
    e0 = edges(b.BUTTON_PIN)
    out["press"] = await timed(btn.wait_press(2000))
    e1 = edges(b.BUTTON_PIN)
    out["edges"] = e1[0] - e0[0] + e1[1] - e0[1]
    out["timeout"] = await timed(btn.wait_press(500))
    tasks.append(asyncio.create_task(press_later(50, 5)))  # a 5 ms tap: contact noise, not a press
    out["tap"] = await timed(btn.wait_press(300))
    tasks.append(asyncio.create_task(press_later(50, 1200)))
    out["long"] = await timed(btn.wait_press(2000))
    tasks.append(asyncio.create_task(press_later(20, 300)))
    await asyncio.sleep_ms(100)
    out["held_pressed"] = btn.pressed()
    await asyncio.sleep_ms(400)
    e0 = edges(b.LED_PIN)
    led.off()
    out["led_off_level"] = w.pin_level(b.LED_PIN)
    out["blink"] = await timed(led.blink(3, 100, 200))
    e1 = edges(b.LED_PIN)
    out["led_edges"] = [e1[0] - e0[0], e1[1] - e0[1]]
    out["led_is_on"] = led.is_on()
    led.on()
    out["led_on_level"] = w.pin_level(b.LED_PIN)


asyncio.run(main())
bat_out = []
for mv in (4250, 4200, 4000, 3845, 3700, 3500, 3300, 3100):
    w.set_battery_mv(mv)
    bat_out.append([mv, bat.millivolts(), bat.percent()])
out["battery"] = bat_out
out["curve"] = [bat.percent(mv) for mv in range(3000, 4400, 10)]
report(**out)
