# The simulated world a device lives in: its board (pins, buses), the sensor chips and analog
# front ends on them, the forces the student applies, and the clock that drives it all.
#
#   from world import World          # before the firmware creates any machine.Pin/I2C/...
#   w = World("stylus", seed=3, source=student)
#   w.advance(1_000_000)             # virtual time: one second of conversions and IRQs
#
# Events (chip conversions, power-up and calibration delays, timer periods, button bounces)
# fire in time order. Pin IRQ and Timer handlers run with the clock set to the event time plus
# a seeded IRQ latency; with strict_alloc=True they run under micropython.heap_lock(), and the
# simulated bus transfers they make allocate nothing, so a test can prove the sampling path
# allocation-free.
import sys

import clock as _clockmod
import micropython
import utime
from chips.analog import AdcChannel, Fsr, LoadCell, Rng

NEVER = _clockmod.NEVER
_LAT_US = (4, 30)  # IRQ entry latency range, microseconds
_IN = 1
_OUT = 3
_OPEN_DRAIN = 7
_PULL_UP = 2
_PULL_DOWN = 1
_current = None


def current():
    if _current is None:
        raise RuntimeError("no simulated world: create world.World(kind) before using machine")
    return _current


class PinState:
    # One GPIO: firmware configuration, what drives it from outside, its level and its IRQ.
    def __init__(self, no, idle=0):
        self.no = no
        self.mode = -1
        self.pull = -1
        self.out = 0
        self.ext = -1  # level driven by a chip or switch, -1 when nothing drives it
        self.idle = idle  # level of an undriven input without pull (board resistors)
        self.level = idle
        self.handler = None
        self.trigger = 0
        self.obj = None  # the machine.Pin that armed the IRQ: handlers get it
        self.listener = None  # a chip watching this line
        self.pending = -1  # world time of an edge whose handler must wait
        self.rises = 0
        self.falls = 0

    def resolve(self):
        m = self.mode
        if m == _OUT or (m == _OPEN_DRAIN and self.out == 0):
            return self.out
        if self.ext >= 0:
            return self.ext
        if self.pull == _PULL_UP:
            return 1
        if self.pull == _PULL_DOWN:
            return 0
        return self.idle


class _Calls:
    # One-off events: (world time, fn(t)), kept sorted; a handful at a time.
    def __init__(self):
        self.items = []
        self.next_us = NEVER

    def add(self, t, fn):
        items = self.items
        i = len(items)
        while i and items[i - 1][0] > t:
            i -= 1
        items.insert(i, (t, fn))
        self.next_us = items[0][0]

    def fire(self, t):
        fn = self.items.pop(0)[1]
        self.next_us = self.items[0][0] if self.items else NEVER
        fn(t)


class Bus:
    def __init__(self, kind, bus_id, pins):
        self.kind = kind
        self.id = bus_id
        self.pins = pins
        self.devices = {}  # I2C: address -> chip; SPI: CS pin -> chip


class World:
    def __init__(
        self,
        kind,
        seed=1,
        realtime=False,
        adc_chip=None,
        drift_ppm=0.0,
        source=None,
        strict_alloc=False,
        start_us=0,
        battery_mv=3900,
    ):
        global _current
        if kind not in ("stylus", "grip"):
            raise ValueError("kind must be 'stylus' or 'grip'")
        self.kind = kind
        self.seed = seed
        self.source = source
        self.strict_alloc = strict_alloc
        __import__("boards." + kind)
        self.board = b = getattr(sys.modules["boards"], kind)
        self.rng = Rng(seed)
        self.clock = _clockmod.install(_clockmod.Clock(realtime, drift_ppm, start_us))
        self.clock.sleeper = self._sleep
        self.irq_count = 0
        self.irq_errors = 0
        self.last_irq_error = None
        self._pins = {}
        self._sources = []
        self._calls = _Calls()
        self._sources.append(self._calls)
        self._i2c = {}
        self._spi = {}
        self._adcs = {}
        self._irq_off = 0
        self._pending = 0
        self._ft = -1
        self._f = (0.0, 0.0, 0.0)
        self._analog_t = -1
        self.chips = {}
        self.battery_mv = battery_mv
        _current = self
        self._build(b, adc_chip)
        if not realtime:
            _patch_asyncio()

    # -- building the board -----------------------------------------------------------------
    def _build(self, b, adc_chip):
        rng = self.rng
        self._i2c[b.I2C_ID] = Bus("i2c", b.I2C_ID, (b.I2C_SCL, b.I2C_SDA))
        if self.kind == "stylus":
            from chips.nau7802 import NAU7802

            cell = LoadCell(rng, 10.0, 1.0, 0.015, 0.01, 0.05, 0.000002)
            self._add_chip(NAU7802(self, cell, "tip", b.NAU7802_ADDR, b.NAU7802_DRDY))
            for name, pin, i in (("barrel_a", b.FSR_A_ADC, 1), ("barrel_b", b.FSR_B_ADC, 2)):
                self._fsr(name, pin, i)
        else:
            chip = adc_chip or b.ADC_CHIP
            cell = LoadCell(rng, 882.6, 1.8, 0.002, 0.0015, 0.04, 0.000001)
            if chip == "nau7802":
                from chips.nau7802 import NAU7802

                c = NAU7802(self, cell, "grip", b.NAU7802_ADDR, b.NAU7802_DRDY)
            elif chip == "ads1220":
                from chips.ads1220 import ADS1220

                spi = Bus("spi", b.SPI_ID, (b.SPI_SCK, b.SPI_MOSI, b.SPI_MISO))
                self._spi[b.SPI_ID] = spi
                c = ADS1220(self, cell, "grip", b.ADS1220_CS, b.ADS1220_DRDY)
            elif chip == "hx711":
                from chips.hx711 import HX711

                rate_pin = getattr(b, "HX711_RATE", None)
                c = HX711(self, cell, "grip", b.HX711_DOUT, b.HX711_SCK, rate_pin)
            else:
                raise ValueError("unknown ADC chip %r" % chip)
            self._add_chip(c)
        bat = AdcChannel(rng, 3)
        bat.update = self._battery_uv
        self._adcs[b.BAT_ADC] = bat
        btn = self.pin(b.BUTTON_PIN)
        btn.idle = btn.level = 1 if b.BUTTON_ACTIVE_LOW else 0

    def _add_chip(self, c):
        self.chips[c.NAME] = c
        self._sources.append(c)
        if c.NAME == "nau7802":
            self._i2c[self.board.I2C_ID].devices[c.addr] = c
        elif c.NAME == "ads1220":
            self._spi[self.board.SPI_ID].devices[c.cs_pin] = c

    def _fsr(self, name, pin, i):
        f = Fsr(self.rng)
        ch = AdcChannel(self.rng, 4)
        ch.fsr = f

        def update(t):
            return f.uv(self.force(name, t))

        ch.update = update
        self._adcs[pin] = ch
        self.chips[name] = f

    def _battery_uv(self, t):
        b = self.board
        return self.battery_mv * 1000 * b.BAT_DIV_DEN // b.BAT_DIV_NUM

    # -- forces -----------------------------------------------------------------------------
    def force(self, channel, t):
        # The force (N) on a channel at world time t, from the source.
        if t != self._ft:
            self._ft = t
            s = self.source
            if s is None:
                self._f = (0.0, 0.0, 0.0)
            elif self.kind == "stylus":
                self._f = s.pen(t / 1_000_000)
            else:
                self._f = (s.grip(t / 1_000_000), 0.0, 0.0)
        f = self._f
        if channel == "barrel_a":
            return f[1]
        if channel == "barrel_b":
            return f[2]
        return f[0]

    # -- time -------------------------------------------------------------------------------
    def now(self):
        return self.clock.world_us()

    def now_s(self):
        return self.clock.world_us() / 1_000_000

    def _next_time(self):
        src = self._sources
        best = NEVER
        for i in range(len(src)):
            n = src[i].next_us
            if n < best:
                best = n
        return best

    def _run_until(self, target):
        # Fire every event due at or before world time `target`, in time order.
        c = self.clock
        src = self._sources
        while True:
            best = None
            bt = target + 1
            for i in range(len(src)):
                n = src[i].next_us
                if n < bt:
                    bt = n
                    best = src[i]
            if best is None:
                return
            if not c.realtime:
                c.set_world(bt)
            best.fire(bt)

    def advance(self, us):
        # Virtual time: move the world forward by `us` microseconds, firing what falls due.
        c = self.clock
        if c.realtime:
            raise RuntimeError("advance() is for virtual time; a realtime world runs by itself")
        target = c.world_us() + us
        self._run_until(target)
        c.set_world(target)

    def fire_due(self):
        # Realtime: fire everything whose time has come.
        self._run_until(self.clock.world_us())

    async def run(self, period_ms=2):
        # Realtime pump: a task that wakes every few ms and fires what is due.
        import asyncio

        while True:
            self.fire_due()
            await asyncio.sleep_ms(period_ms)

    def _sleep(self, wus, is_sleep):
        c = self.clock
        if not c.realtime:
            target = c.world_us() + wus
            self._run_until(target)
            c.set_world(target)
            return
        now = c.world_us()
        end = now + wus
        while True:
            self._run_until(now)
            if not is_sleep or now >= end:
                return
            step = min(end, self._next_time(), now + 2000) - now
            if step > 0:
                utime.sleep_us(step)
            now = c.world_us()

    def call_at(self, t, fn):
        # Run fn(t) at world time t (microseconds).
        self._calls.add(t, fn)

    def add_source(self, s):
        self._sources.append(s)

    def remove_source(self, s):
        if s in self._sources:
            self._sources.remove(s)

    # -- pins -------------------------------------------------------------------------------
    def pin(self, no):
        ps = self._pins.get(no)
        if ps is None:
            ps = self._pins[no] = PinState(no)
        return ps

    def pin_level(self, no):
        return self.pin(no).level

    def edges(self, no):
        ps = self.pin(no)
        return ps.rises, ps.falls

    def listen(self, no, chip):
        self.pin(no).listener = chip

    def drive(self, no, level, t):
        # A chip or switch drives an input line (-1: lets go of it).
        ps = self._pins.get(no) or self.pin(no)
        ps.ext = level
        self._settle(ps, t)

    def pin_changed(self, ps):
        self._settle(ps, self.clock.world_us())

    def _settle(self, ps, t):
        old = ps.level
        new = ps.resolve()
        if new == old:
            return
        ps.level = new
        if new:
            ps.rises += 1
            edge = 1  # IRQ_RISING
        else:
            ps.falls += 1
            edge = 2  # IRQ_FALLING
        if ps.listener is not None:
            ps.listener.on_pin(ps.no, new, t)
        if ps.handler is not None and ps.trigger & edge:
            if self.clock.in_irq or self._irq_off:
                if ps.pending < 0:
                    ps.pending = t
                    self._pending += 1
            else:
                self.dispatch(ps.handler, ps.obj, t)

    def irq_disable(self):
        self._irq_off += 1
        return self._irq_off - 1

    def irq_enable(self, state):
        self._irq_off = state
        if not state:
            self._flush()

    def _flush(self):
        while self._pending and not self._irq_off and not self.clock.in_irq:
            self._pending = 0
            for ps in self._pins.values():
                t = ps.pending
                if t >= 0:
                    ps.pending = -1
                    if ps.handler is not None:
                        self.dispatch(ps.handler, ps.obj, t)

    # -- interrupt handlers -----------------------------------------------------------------
    def dispatch(self, fn, arg, t):
        # Run an IRQ handler for a hardware event at world time t.
        c = self.clock
        tw = t + self.rng.irange(_LAT_US[0], _LAT_US[1])
        if not c.realtime:
            c.set_world(tw)
        strict = self.strict_alloc
        if strict and self._adcs:
            self.refresh_analog(c.world_us())
        self.irq_count += 1
        err = None
        c.hold(c.device_at(tw))
        if strict:
            micropython.heap_lock()
        try:
            fn(arg)
        except Exception as e:
            err = e
        if strict:
            micropython.heap_unlock()
        c.release()
        if err is not None:
            self._irq_error(fn, err)
        if self._pending:
            self._flush()

    def _irq_error(self, fn, err):
        # As on the device: report, and switch that handler off.
        self.irq_errors += 1
        self.last_irq_error = err
        print("Uncaught exception in IRQ callback handler")
        sys.print_exception(err)
        for ps in self._pins.values():
            if ps.handler is fn:
                ps.handler = None

    # -- buses and analog -------------------------------------------------------------------
    def i2c_bus(self, bus_id, scl, sda):
        bus = self._i2c.get(bus_id)
        if bus is None or (scl is not None and (scl, sda) != bus.pins):
            return Bus("i2c", bus_id, (scl, sda))  # nothing wired there
        return bus

    def spi_bus(self, bus_id, sck, mosi, miso):
        bus = self._spi.get(bus_id)
        if bus is None or (sck is not None and (sck, mosi, miso) != bus.pins):
            return Bus("spi", bus_id, (sck, mosi, miso))
        return bus

    def adc(self, pin_no):
        ch = self._adcs.get(pin_no)
        if ch is None:
            ch = self._adcs[pin_no] = AdcChannel(self.rng, 3)
        return ch

    def refresh_analog(self, t):
        # Recompute the voltage at every ADC pin for world time t (floats: outside IRQs).
        if t == self._analog_t:
            return
        self._analog_t = t
        for ch in self._adcs.values():
            if ch.update is not None:
                ch.uv = ch.update(t)

    def analog_for_read(self):
        # Called by machine.ADC before a read: refresh unless inside a heap-locked handler.
        if not (self.strict_alloc and self.clock.in_irq):
            self.refresh_analog(self.clock.world_us())

    # -- scenario controls ------------------------------------------------------------------
    def press_button(self, ms, bounce=True):
        # Press the kit's button now for `ms` milliseconds, with contact bounce.
        b = self.board
        no = b.BUTTON_PIN
        act = 0 if b.BUTTON_ACTIVE_LOW else 1
        t = self.clock.world_us()
        rng = self.rng
        n = rng.irange(2, 4) if bounce else 0
        for i in range(n):
            self.call_at(t + i * 300, lambda tt: self.drive(no, act, tt))
            self.call_at(t + i * 300 + 150, lambda tt: self.drive(no, -1, tt))
        self.call_at(t + n * 300, lambda tt: self.drive(no, act, tt))
        t_up = t + ms * 1000
        for i in range(n):
            self.call_at(t_up + i * 400, lambda tt: self.drive(no, -1, tt))
            self.call_at(t_up + i * 400 + 200, lambda tt: self.drive(no, act, tt))
        self.call_at(t_up + n * 400, lambda tt: self.drive(no, -1, tt))

    def set_battery_mv(self, mv):
        self.battery_mv = mv
        self._analog_t = -1

    def fail(self, chip_name, mode="nack"):
        # Break a sensor chip: "nack" (no answer on its bus), "stuck" (answers, but no
        # conversion ever completes: DRDY never moves), "cal" (calibration reports CAL_ERR).
        if mode not in ("nack", "stuck", "cal"):
            raise ValueError("mode is 'nack', 'stuck' or 'cal'")
        self.chips[chip_name].fail(mode)

    @property
    def truth(self):
        # Hidden per-channel parameters, for comparing calibrations against.
        d = {"kind": self.kind, "seed": self.seed, "drift_ppm": self.clock.ppb / 1000}
        for name, c in self.chips.items():
            if isinstance(c, Fsr):
                t = c.truth()
                for pin, ch in self._adcs.items():
                    if getattr(ch, "fsr", None) is c:
                        t["adc_pin"] = pin
                        t["adc_noise_lsb"] = ch.noise_lsb
                        t["adc_offset_lsb"] = ch.offset_lsb
                d[name] = t
            else:
                d[c.channel] = c.truth()
        b = self.board
        d["battery"] = {"mv": self.battery_mv, "div_num": b.BAT_DIV_NUM, "div_den": b.BAT_DIV_DEN}
        return d


_patched = False


def _patch_asyncio():
    # Virtual time and asyncio: when every task waits, move the world to the next deadline or
    # simulated event instead of blocking the host.
    global _patched
    if _patched:
        return
    _patched = True
    import asyncio

    ioq = asyncio.core.IOQueue
    orig = ioq.wait_io_event

    def wait_io_event(self, dt):
        w = _current
        if w is None or w.clock.realtime or dt == 0:
            return orig(self, dt)
        w._idle(self, dt, orig)

    ioq.wait_io_event = wait_io_event


def _idle_impl(w, ioq, dt, orig):
    import time

    orig(ioq, 0)
    core = sys.modules["asyncio.core"]
    head = core._task_queue.peek()
    if head is not None and time.ticks_diff(head.ph_key, time.ticks_ms()) <= 0:
        return
    c = w.clock
    now = c.world_us()
    if dt > 0:
        dev = c.now_us()
        lim = now + c.to_world((dev // 1000 + dt) * 1000 - dev)
    else:
        lim = NEVER
    target = min(lim, w._next_time())
    if target >= NEVER:
        raise RuntimeError("virtual time: every task waits and no simulated event is due")
    w._run_until(target)
    c.set_world(target)
    orig(ioq, 0)


World._idle = _idle_impl
