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
# Pin and Timer callbacks on the ESP32 are soft: the ISR only queues them (ports/esp32/
# machine_pin.c machine_pin_isr_handler, machine_timer.c machine_timer_handler: both call
# mp_sched_schedule), and py/scheduler.c mp_sched_schedule drops a callback when the queue of
# MICROPY_SCHEDULER_DEPTH (8, ports/esp32/mpconfigport.h) is full.
SCHED_DEPTH = 8
# Flash on the kit's module (SPI NOR under littlefs): closing a file written to commits it,
# which erases a 4 KB sector (typically 45 ms) and programs 256-byte pages (0.7 ms each).
# Meanwhile the CPU runs from flash-disabled cache: no callback runs, they queue.
FLASH_ERASE_US = 45000
FLASH_PAGE_US = 700
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
    def __init__(self, no):
        self.no = no
        self.mode = -1
        self.pull = -1
        self.out = 0
        self.ext = -1  # level driven by a chip or switch, -1 when nothing drives it
        self.idle = 0  # level of an undriven input without pull (board resistors)
        self.level = 0
        self.handler = None
        self.trigger = 0
        self.obj = None  # the machine.Pin that armed the IRQ: handlers get it
        self.listener = None  # a chip watching this line: listener.on_pin(no, level, t)
        self.pending = -1  # world time of an edge whose handler must wait
        self.rises = 0
        self.falls = 0


class _Calls:
    # One-off events: (world time, fn(t)), kept sorted; a handful at a time.
    def __init__(self):
        self.items = []
        self.next_us = NEVER

    def fire(self, t):
        items = self.items
        fn = items.pop(0)[1]
        self.next_us = items[0][0] if items else NEVER
        fn(t)


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
        self.kind = kind
        self.seed = seed
        self.source = source
        self.strict_alloc = strict_alloc
        __import__("boards." + kind)
        self.board = b = getattr(sys.modules["boards"], kind)
        self.rng = rng = Rng(seed)
        self.clock = _clockmod.install(_clockmod.Clock(realtime, drift_ppm, start_us))
        self.clock.sleeper = self._sleep
        self.irq_count = 0
        self.sched_dropped = 0  # soft callbacks dropped: the scheduler queue was full
        self.flash_writes = {}  # file name -> times it was written to flash
        self._sq = [None] * (3 * SCHED_DEPTH)  # queued callbacks: fn, arg, event time
        self._sq_n = 0
        self._sched_locked = 0
        self._locked_at = 0  # world time the scheduler was last locked
        self._unlocked_at = 0  # world time the scheduler was last unlocked
        self._draining = False
        self.irq_errors = 0
        self.last_irq_error = None
        self.pins = {}
        self._calls = _Calls()
        self.sources = [self._calls]  # everything with .next_us (world time) and .fire(t)
        self.i2c = {b.I2C_ID: [(b.I2C_SCL, b.I2C_SDA), {}]}  # bus id -> [pins, devices]
        self.spi = {}
        self.adcs = {}  # pin -> chips.analog.AdcChannel
        self.chips = {}
        self._irq_off = 0
        self._pending = 0
        self._ft = -1
        self._f = (0.0, 0.0, 0.0)
        self._analog_t = -1
        _current = self
        # The bridge ADC and its load cell.
        chip = "nau7802" if kind == "stylus" else adc_chip or b.ADC_CHIP
        if kind == "stylus":
            cell = LoadCell(rng, 10.0, 1.0, 0.015, 0.01, 0.05, 0.000002)
        elif kind == "grip":
            cell = LoadCell(rng, 882.6, 1.8, 0.002, 0.0015, 0.04, 0.000001)
        else:
            raise ValueError("kind must be 'stylus' or 'grip'")
        ch = "tip" if kind == "stylus" else "grip"
        if chip == "nau7802":
            from chips.nau7802 import NAU7802

            c = NAU7802(self, cell, ch, b.NAU7802_ADDR, b.NAU7802_DRDY)
            self.i2c[b.I2C_ID][1][c.addr] = c
        elif chip == "ads1220":
            from chips.ads1220 import ADS1220

            c = ADS1220(self, cell, ch, b.ADS1220_CS, b.ADS1220_DRDY)
            self.spi[b.SPI_ID] = [(b.SPI_SCK, b.SPI_MOSI, b.SPI_MISO), {c.cs_pin: c}]
        elif chip == "hx711":
            from chips.hx711 import HX711

            c = HX711(self, cell, ch, b.HX711_DOUT, b.HX711_SCK, getattr(b, "HX711_RATE", None))
        else:
            raise ValueError("unknown ADC chip %r" % chip)
        self.chips[c.NAME] = c
        self.sources.append(c)
        # Analog inputs: FSR pads (stylus) and the battery divider.
        if kind == "stylus":
            for name, pin in (("barrel_a", b.FSR_A_ADC), ("barrel_b", b.FSR_B_ADC)):
                f = self.chips[name] = Fsr(rng)
                a = self.adcs[pin] = AdcChannel(rng, 4)
                a.fsr = f
                a.update = self._fsr_uv(f, name)
        self.adcs[b.BAT_ADC] = AdcChannel(rng, 3)
        self.set_battery_mv(battery_mv)
        btn = self.pin(b.BUTTON_PIN)
        btn.idle = btn.level = 1 if b.BUTTON_ACTIVE_LOW else 0
        import flash

        flash.install(self)
        if not realtime:
            _patch_asyncio()

    def _fsr_uv(self, f, name):
        return lambda t: f.uv(self.force(name, t))

    # -- forces -----------------------------------------------------------------------------
    def force(self, channel, t):
        # The force (N) on a channel ("tip", "barrel_a", "barrel_b", "grip") at world time t.
        # The source moves forward only: a read a few us before the latest one (an ADC read
        # stamped before a conversion that fired first) sees the latest forces.
        if t > self._ft:
            self._ft = t
            s = self.source
            if s is None:
                self._f = (0.0, 0.0, 0.0)
            elif self.kind == "stylus":
                self._f = s.pen(t / 1_000_000)
            else:
                self._f = (s.grip(t / 1_000_000), 0.0, 0.0)
        f = self._f
        return f[1] if channel == "barrel_a" else f[2] if channel == "barrel_b" else f[0]

    # -- time -------------------------------------------------------------------------------
    def now(self):
        # World time, microseconds.
        return self.clock.world_us()

    def _next(self, target):
        # The source with the earliest event at or before `target`, or None.
        src = self.sources
        best = None
        for i in range(len(src)):
            n = src[i].next_us
            if n <= target:
                target = n
                best = src[i]
        return best

    def _run_until(self, target):
        # Fire every event due at or before world time `target`, in time order.
        c = self.clock
        while True:
            s = self._next(target)
            if s is None:
                return
            t = s.next_us
            if not c.realtime:
                c.set_world(t)
            s.fire(t)

    def advance(self, us):
        # Virtual time: move the world forward by `us` microseconds, firing what falls due.
        c = self.clock
        if c.realtime:
            raise RuntimeError("advance() is for virtual time; a realtime world runs by itself")
        self._sleep(us, True)

    def fire_due(self):
        # Realtime: fire everything whose time has come.
        self._run_until(self.clock.world_us())

    async def run(self, period_ms=2):
        # Realtime pump: a task that wakes every few ms and fires what is due.
        import asyncio

        while True:
            self.fire_due()
            await asyncio.sleep_ms(period_ms)

    def _sleep(self, wus, sleep):
        c = self.clock
        now = c.world_us()
        end = now + wus
        if not c.realtime:
            self._run_until(end)
            c.set_world(end)
            return
        while True:
            self._run_until(now)
            if not sleep or now >= end:
                return
            s = self._next(end)
            utime.sleep_us(min(end if s is None else s.next_us, now + 2000) - now)
            now = c.world_us()

    def call_at(self, t, fn):
        # Run fn(t) at world time t (microseconds).
        items = self._calls.items
        i = len(items)
        while i and items[i - 1][0] > t:
            i -= 1
        items.insert(i, (t, fn))
        self._calls.next_us = items[0][0]

    # -- pins -------------------------------------------------------------------------------
    def pin(self, no):
        ps = self.pins.get(no)
        if ps is None:
            ps = self.pins[no] = PinState(no)
        return ps

    def pin_level(self, no):
        return self.pin(no).level

    def drive(self, no, level, t):
        # A chip or switch drives an input line (-1: lets go of it) at world time t.
        ps = self.pins.get(no) or self.pin(no)
        ps.ext = level
        self.settle(ps, t)

    def settle(self, ps, t=-1):
        # Recompute a pin's level; on an edge tell its listener and run its IRQ handler.
        m = ps.mode
        if m == _OUT or (m == _OPEN_DRAIN and ps.out == 0):
            new = ps.out
        elif ps.ext >= 0:
            new = ps.ext
        elif ps.pull == _PULL_UP:
            new = 1
        elif ps.pull == _PULL_DOWN:
            new = 0
        else:
            new = ps.idle
        if new == ps.level:
            return
        if t < 0:
            t = self.clock.world_us()
        ps.level = new
        if new:
            ps.rises += 1
        else:
            ps.falls += 1
        if ps.listener is not None:
            ps.listener.on_pin(ps.no, new, t)
        if ps.handler is not None and ps.trigger & (1 if new else 2):  # IRQ_RISING/FALLING
            if self._irq_off:  # latched in the GPIO's interrupt status: once
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
        self._flush()

    def _flush(self):
        # Run the handlers of edges that came while interrupts were off or busy.
        while self._pending and not self._irq_off and not self.clock.in_irq:
            self._pending = 0
            for ps in self.pins.values():
                t = ps.pending
                if t >= 0:
                    ps.pending = -1
                    if ps.handler is not None:
                        self.dispatch(ps.handler, ps.obj, t)

    # -- interrupt handlers -----------------------------------------------------------------
    def dispatch(self, fn, arg, t):
        # A hardware event at world time t queues its soft callback (SCHED_DEPTH deep, the
        # rest dropped, as py/scheduler.c mp_sched_schedule); it runs at once unless the
        # scheduler is locked (a Bluetooth handler running, a flash write) or a callback runs.
        n = self._sq_n
        if n >= SCHED_DEPTH:
            self.sched_dropped += 1
            return
        q = self._sq
        q[3 * n] = fn
        q[3 * n + 1] = arg
        q[3 * n + 2] = t
        self._sq_n = n + 1
        self._drain()

    def sched_lock(self):
        # py/scheduler.c mp_sched_lock: queued callbacks wait until the matching unlock.
        if not self._sched_locked:
            self._locked_at = self.clock.world_us()
        self._sched_locked += 1

    def sched_unlock(self):
        self._sched_locked -= 1
        if not self._sched_locked:
            self._unlocked_at = self.clock.world_us()
        self._drain()

    def stall(self, us):
        # The main program is busy in C for `us` device microseconds (a flash write): time
        # passes, events happen, their callbacks queue (and overflow), then run back to back.
        self.sched_lock()
        self.clock.sleep_us(us, self.clock.realtime)
        self.sched_unlock()

    def flash_commit(self, name, nbytes):
        # A file written to flash was closed: count it, and take the flash's time.
        self.flash_writes[name] = self.flash_writes.get(name, 0) + 1
        self.stall(FLASH_ERASE_US + FLASH_PAGE_US * (nbytes // 256 + 1))

    def _drain(self):
        # py/scheduler.c mp_handle_pending: run queued callbacks in order, each stamped when
        # it runs (the clock at that moment), not when its event happened.
        if self._draining or self._sched_locked or self.clock.in_irq:
            return
        self._draining = True
        q = self._sq
        while self._sq_n:
            fn, arg, t = q[0], q[1], q[2]
            n = self._sq_n - 1
            for i in range(3 * n):
                q[i] = q[i + 3]
            q[3 * n] = q[3 * n + 1] = q[3 * n + 2] = None
            self._sq_n = n
            self._run(fn, arg, t)
        self._draining = False

    def _run(self, fn, arg, t):
        # Stamped when it runs: at the event, or later if it waited (virtual time); in
        # realtime only a modelled wait counts (the scheduler locked), not the host's lateness.
        c = self.clock
        if c.realtime:  # the lock held it only if it came due while locked
            u = self._unlocked_at if t >= self._locked_at else t
        else:
            u = c.world_us()
        tw = (t if t > u else u) + self.rng.irange(_LAT_US[0], _LAT_US[1])
        if not c.realtime:
            c.set_world(tw)
        strict = self.strict_alloc
        if strict:
            self.analog()
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
        if err is not None:  # as on the device: report, and switch that handler off
            self.irq_errors += 1
            self.last_irq_error = err
            print("Uncaught exception in IRQ callback handler")
            sys.print_exception(err)
            for ps in self.pins.values():
                if ps.handler is fn:
                    ps.handler = None
        self._flush()

    # -- buses and analog -------------------------------------------------------------------
    def bus(self, table, bus_id, pins):
        # [pins, devices] of bus_id in table (self.i2c or self.spi); a bus with nothing on it
        # if the firmware names pins the board does not wire that way.
        b = table.get(bus_id)
        if b is None or (pins[0] is not None and pins != b[0]):
            return [pins, {}]
        return b

    def adc(self, pin_no):
        ch = self.adcs.get(pin_no)
        if ch is None:
            ch = self.adcs[pin_no] = AdcChannel(self.rng, 3)
        return ch

    def analog(self):
        # Recompute the voltage at every ADC pin for now (floats: not inside a heap-locked
        # handler, where reads use the values computed just before it ran).
        c = self.clock
        t = c.world_us()
        if t == self._analog_t or (c.in_irq and self.strict_alloc):
            return
        self._analog_t = t
        for ch in self.adcs.values():
            if ch.update is not None:
                ch.uv = ch.update(t)

    # -- scenario controls ------------------------------------------------------------------
    def press_button(self, ms, bounce=True):
        # Press the kit's button now for `ms` milliseconds, with contact bounce.
        b = self.board
        no = b.BUTTON_PIN
        act = 0 if b.BUTTON_ACTIVE_LOW else 1
        t = self.clock.world_us()
        n = self.rng.irange(2, 4) if bounce else 0
        up = t + ms * 1000
        for i in range(n):
            self.call_at(t + i * 300, lambda tt: self.drive(no, act, tt))
            self.call_at(t + i * 300 + 150, lambda tt: self.drive(no, -1, tt))
            self.call_at(up + i * 400, lambda tt: self.drive(no, -1, tt))
            self.call_at(up + i * 400 + 200, lambda tt: self.drive(no, act, tt))
        self.call_at(t + n * 300, lambda tt: self.drive(no, act, tt))
        self.call_at(up + n * 400, lambda tt: self.drive(no, -1, tt))

    def set_battery_mv(self, mv):
        b = self.board
        self.battery_mv = mv
        self.adcs[b.BAT_ADC].uv = mv * 1000 * b.BAT_DIV_DEN // b.BAT_DIV_NUM

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
                t = d[name] = c.truth()
                for pin, ch in self.adcs.items():
                    if getattr(ch, "fsr", None) is c:
                        t["adc_pin"] = pin
                        t["adc_noise_lsb"] = ch.noise_lsb
                        t["adc_offset_lsb"] = ch.offset_lsb
            else:
                d[c.channel] = c.truth()
        b = self.board
        d["battery"] = {"mv": self.battery_mv, "div_num": b.BAT_DIV_NUM, "div_den": b.BAT_DIV_DEN}
        return d


_patched = False


def _patch_asyncio():
    # Virtual time and asyncio: when every task waits, move the world on to the next deadline
    # or simulated event instead of blocking the host.
    global _patched
    if _patched:
        return
    _patched = True
    import asyncio

    ioq = asyncio.core.IOQueue
    orig = ioq.wait_io_event

    def poll(q):
        # IOQueue.wait_io_event(0). The interpreter's poll (extmod/modselect.c
        # poll_set_poll_until_ready_or_timeout) waits MICROPY_PY_SELECT_IOCTL_CALL_PERIOD_MS
        # (1 ms) of host time whenever a stream without a file descriptor is registered (a
        # ThreadSafeFlag), even for a timeout of 0: virtual time would spend most of the
        # host's time asleep. Such streams are asked here (their ioctl), as that poll does.
        m = q.map
        ready = None
        for k in m:
            sm = m[k]
            s = sm[2]
            if hasattr(s, "fileno"):  # a descriptor: the interpreter's own poll
                return orig(q, 0)
            ev = s.ioctl(3, (1 if sm[0] is not None else 0) | (4 if sm[1] is not None else 0))
            if ev:  # MP_STREAM_POLL: POLLIN 1, POLLOUT 4
                ready = [] if ready is None else ready
                ready.append((s, ev))
        if ready is None:
            return None
        push = asyncio.core._task_queue.push
        for s, ev in ready:  # what IOQueue.wait_io_event does with each
            sm = m[id(s)]
            if ev & ~4 and sm[0] is not None:
                push(sm[0])
                sm[0] = None
            if ev & ~1 and sm[1] is not None:
                push(sm[1])
                sm[1] = None
            if sm[0] is None and sm[1] is None:
                q._dequeue(s)
            elif sm[0] is None:
                q.poller.modify(s, 4)
            else:
                q.poller.modify(s, 1)
        return None

    def wait_io_event(q, dt):
        w = _current
        if w is None or w.clock.realtime:
            return orig(q, dt)
        if dt == 0:
            return poll(q)
        poll(q)
        core = asyncio.core
        head = core._task_queue.peek()
        if head is not None and core.ticks_diff(head.ph_key, core.ticks()) <= 0:
            return None
        c = w.clock
        now = c.world_us()
        lim = NEVER
        if dt > 0:
            dev = c.now_us()
            lim = now + c.to_world((dev // 1000 + dt) * 1000 - dev)
        s = w._next(lim)
        target = lim if s is None else s.next_us
        if target >= NEVER:
            raise RuntimeError("virtual time: every task waits and no simulated event is due")
        w._run_until(target)
        c.set_world(target)
        return poll(q)

    ioq.wait_io_event = wait_io_event
