# Preemption at bytecode jumps: NimBLE's task (and the scheduler's callbacks) taking over from
# the kit's main program between two of its Python statements, as on the ESP32.
#
#   w = World(...)                                              # first the world, then:
#   import preempt
#   preempt.start(every_us=(20, 200), step_us=(0, 500), seed=7)  # virtual time (stress)
#   preempt.start(sock=bridge_socket)                           # realtime: on bridge data
#
# The port. The Bluetooth handler runs on NimBLE's FreeRTOS task, whose priority is above the
# MicroPython task's (ports/esp32/main.c MP_TASK_PRIORITY): extmod/modbluetooth.c
# invoke_irq_handler takes the GIL (MP_THREAD_GIL_ENTER) and locks the scheduler around it.
# The main program gives the GIL up at bytecode jumps: py/vm.c pending_exception_check, after
# every JUMP, POP_JUMP_IF_*, JUMP_IF_*_OR_POP, UNWIND_JUMP and POP_EXCEPT_JUMP, bounces the GIL
# (MP_THREAD_GIL_EXIT/ENTER) every MICROPY_PY_THREAD_GIL_VM_DIVISOR jumps (32,
# ports/esp32/mpconfigport.h), and only while the scheduler is unlocked: never inside the
# handler, nor inside a Timer or Pin callback (py/scheduler.c mp_sched_run_pending runs those
# with it locked). The same check runs the scheduler's pending callbacks
# (mp_handle_pending): soft Timer and Pin callbacks start at a jump too. C code (the port's
# machine, time and bluetooth modules, NimBLE's own calls, a flash write) keeps the GIL while
# it runs; it is given up while the main program waits (time.sleep, select.poll under
# asyncio: MICROPY_EVENT_POLL_HOOK). Between machine.disable_irq() and enable_irq() no other
# task runs on the MicroPython core, which NimBLE's task is pinned to as well (holds_gil).
#
# Here. A thread (_thread; this unix build has no GIL) wakes at seeded random intervals of
# host time, or when the bridge's socket has data, and schedules `_tick` with
# micropython.schedule: the interpreter runs it on the main thread at its next jump (py/vm.c
# as above; py/scheduler.c mp_handle_pending runs callbacks on the main thread only when there
# is no GIL). The stand-ins are the port's C code: start() makes each entry of theirs listed
# in _SECTIONS a section, inside which no tick is taken; handlers and soft callbacks run
# inside one too. A tick that comes inside a section is taken where the outermost one ends (the
# jump after the C call returns). Elsewhere, or at that end, a tick is a preemption point:
# - virtual time: the main program's own Python is taken to have run `step_us` device
#   microseconds since the last point (seeded, random; only at a tick between two of its
#   statements), and what falls due meanwhile happens there at its own time: Bluetooth events
#   from vcentral, chip conversions, timer periods and their soft callbacks. vcentral holds
#   an event that falls due while the main program holds the GIL (inside a section that is
#   not a wait, or inside disable_irq) until the end of that section; during waits (a
#   firmware sleep, asyncio's poll) events come at once, as before;
# - realtime: the bridge's events that came are handed to the handler
#   (bluetooth._Bridge.preempt), and the world's due events fire.
#
# On by default only for realtime kits (run_kit.py; on bridge data, no periodic ticks: the
# host's clock is not repeatable anyway, and a blocked thread costs nothing). Virtual time:
# off unless a script starts it, since ticks come from host time and where they land differs
# from run to run, while the virtual-time tests repeat exactly. FINEMOTOR_SIM_PREEMPT=0 in the
# environment switches it off everywhere (start() then does nothing and returns False).
import os
import sys

import micropython
import utime

_M32 = 0xFFFFFFFF
_SPIN_US = 60  # shorter intervals are spun, not slept (a sleep takes ~60 us at least on Linux)

# The stand-ins' entries that are the port's C code: (module, class, names). Also World._sleep
# and asyncio's poll, sections in which the GIL is free when they wait (_install). Not `time`:
# its functions only read the clock, as if just before the point. The wrappers allocate (their
# arguments): not for World(strict_alloc=True).
_SECTIONS = (
    ("world", "World", ("_run_until", "call_at", "settle", "dispatch", "irq_enable", "stall")),
    ("world", "World", ("press_button", "fail", "set_battery_mv")),
    ("machine", "I2C", ("scan", "readfrom_mem_into", "writeto_mem", "writeto", "readfrom_into")),
    ("machine", "SPI", ("write", "readinto", "write_readinto")),
    ("machine", "Pin", ("init", "value", "irq")),
    ("machine", "ADC", ("read_u16", "read_uv")),
    ("machine", "Timer", ("init", "deinit")),
    ("bluetooth", "_BLE", ("active", "config", "irq", "_irq", "gap_advertise", "gap_disconnect")),
    ("bluetooth", "_BLE", ("gap_pair", "gap_passkey", "gatts_register_services", "gatts_read")),
    ("bluetooth", "_BLE", ("gatts_write", "gatts_set_buffer", "gatts_notify", "gatts_indicate")),
    ("bluetooth", "_Bridge", ("request", "preempt", "_take_later", "_take_incoming")),
    ("vcentral", "Central", ("connect", "disconnect", "mtu", "write", "pair", "encrypt")),
    ("vcentral", "Central", ("preempt", "_get", "_store_set", "_store_delete")),
)


class _State:
    def __init__(self):
        self.on = False
        self.n = 0  # depth of sections the main program is inside
        self.free = 0  # > 0: inside a wait (the GIL is free) or at a preemption point
        self.due = False  # a tick (or a held event) came inside a section: take it at its end
        self.exc = None  # an exception a tick's delivery raised: raised at the next section end
        self.ticks = 0  # ticks that reached the main thread
        self.deferred = 0  # of them, inside a section (taken at its end)
        self.points = 0  # preemption points taken (at a jump, or at a section's end)
        # By where the point was, [1] at a jump, [2] at the end of a section: Bluetooth events
        # handed to the handler there, and soft callbacks run there.
        self.handed = [0, 0, 0]
        self.callbacks = [0, 0, 0]
        self.flags = bytearray(2)  # shared with the thread: [0] run, [1] a tick is scheduled
        self.step_lo = 0
        self.step_span = 1
        self.x = 1  # xorshift32 state of the steps


S = _State()


def disabled():
    # FINEMOTOR_SIM_PREEMPT=0: no preemption at jumps (as before it existed).
    return os.getenv("FINEMOTOR_SIM_PREEMPT", "1") == "0"


def holds_gil():
    # No other task's Python could run now on the port: the main program is inside the
    # stand-ins' C code (or a handler, or a callback) and not waiting, or inside
    # machine.disable_irq(), a critical section (ports/esp32/mphalport.h
    # mp_begin_atomic_section: portENTER_CRITICAL) on the core that NimBLE's task is pinned
    # to as well (CONFIG_BT_NIMBLE_PINNED_TO_CORE=1, ports/esp32/boards/sdkconfig.ble): no task
    # switch there until enable_irq.
    w = sys.modules.get("world")
    w = None if w is None else w._current
    return (S.n > 0 and not S.free) or (w is not None and w._irq_off > 0)


def start(every_us=None, step_us=(0, 0), seed=1, sock=None):
    # Start preempting (once, after the World): every_us: (lo, hi) host microseconds between
    # ticks, None for none; step_us: (lo, hi) device microseconds the main program's Python
    # takes between two ticks (virtual time); sock: a socket whose incoming data is a tick (the
    # bridge's). Returns False if switched off (FINEMOTOR_SIM_PREEMPT=0).
    if S.on:
        raise RuntimeError("preempt: already started")
    if disabled():
        return False
    import _thread

    _install()
    S.on = True
    S.step_lo = step_us[0]
    S.step_span = step_us[1] - step_us[0] + 1
    S.x = (seed * 2654435761 + 1) & _M32 or 1
    f = S.flags
    f[0] = 1
    if every_us is not None:
        lo, hi = every_us
        x = (seed * 40503 + 7) & _M32 or 1
        args = (f, micropython.schedule, _tick, utime.sleep_us, lo, hi - lo + 1, x)
        _thread.start_new_thread(_periodic, args + (utime.ticks_us, utime.ticks_diff))
    if sock is not None:
        import select

        p = select.poll()
        p.register(sock, select.POLLIN)
        _thread.start_new_thread(_on_data, (f, micropython.schedule, _tick, utime.sleep_us, p))
    return True


def stop():
    # No tick is taken after this; the thread ends at its next wake. The sections stay.
    S.flags[0] = 0
    S.on = False


def counts():
    # What happened so far, for a test's report.
    return {
        "ticks": S.ticks,
        "deferred": S.deferred,
        "points": S.points,
        "at_jump": S.handed[1],  # Bluetooth events handed to the handler at a free tick
        "at_exit": S.handed[2],  # ... where a section that a tick or the event came in ended
        "callbacks_at_jump": S.callbacks[1],  # soft callbacks run at a free tick
    }


# --- the sections ---------------------------------------------------------------------------


def section(f):
    # f as a section: what a stand-in entry is (start() wraps those in _SECTIONS).
    def run(*args, **kw):
        s = S
        s.n += 1
        try:
            return f(*args, **kw)
        finally:
            s.n -= 1
            if s.due and not s.n:
                _exit_point()

    return run


def _waiting(f):
    # A section in which the main program waits: the GIL is free (events come at once).
    def run(*args, **kw):
        s = S
        s.n += 1
        s.free += 1
        try:
            return f(*args, **kw)
        finally:
            s.free -= 1
            s.n -= 1
            if s.due and not s.n:
                _exit_point()

    return run


def _install():
    for mod, cls, names in _SECTIONS:
        c = getattr(__import__(mod), cls)
        for name in names:
            setattr(c, name, section(getattr(c, name)))
    wm = sys.modules.get("world")
    if wm is not None:
        W = wm.World  # noqa: N806
        sleep = W._sleep

        def _sleep(self, wus, asleep):
            # A firmware sleep (time.sleep_*) waits; the time a C call takes does not.
            return (waits if asleep else plain)(self, wus, asleep)

        waits = _waiting(sleep)
        plain = section(sleep)
        W._sleep = _sleep
        w = wm._current
        if w is not None:
            w.clock.sleeper = w._sleep  # the World took the unwrapped one
        import asyncio

        q = asyncio.core.IOQueue  # asyncio's poll (world._patch_asyncio's, in virtual time)
        q.wait_io_event = _waiting(q.wait_io_event)


# --- the thread ---------------------------------------------------------------------------
# It touches nothing of the main program's but the flags (a bytearray: no allocation, no
# dictionary that the main thread could be resizing) and what it was passed.


def _periodic(f, sched, tick, sleep, lo, span, x, now, diff):
    while f[0]:
        x ^= (x << 13) & _M32
        x ^= x >> 17
        x ^= (x << 5) & _M32
        d = lo + x % span
        if d < _SPIN_US:  # takes a core of the host while it runs
            t0 = now()
            while diff(now(), t0) < d:
                pass
        else:
            sleep(d)
        if not f[1]:  # one at a time: the main program may be in a long C call
            f[1] = 1
            sched(tick, 0)


def _on_data(f, sched, tick, sleep, p):
    while f[0]:
        for _ in p.ipoll(100):  # ipoll: no allocation
            if not f[1]:
                f[1] = 1
                sched(tick, 0)
            sleep(200)  # let the main program take the data before polling again
            break


# --- the main thread -------------------------------------------------------------------------


def _tick(_arg):
    # Run by the interpreter at a jump of the main program (or while it waits in C).
    s = S
    s.flags[1] = 0
    if not s.on:
        return
    s.ticks += 1
    if s.n:
        s.due = True
        s.deferred += 1
        return
    try:
        _point(1)
    except BaseException as e:  # noqa: BLE001  (the scheduler would print and drop it)
        s.exc = e  # raised where the main program next leaves a section
        s.due = True


def _exit_point():
    # The outermost section ended with a tick (or a held event) due.
    e = S.exc
    if e is not None:
        S.exc = None
        S.due = False
        raise e
    _point(2)


def _point(where):
    # A preemption point (where: 1 at a jump, 2 at the end of a section): what is due
    # happens here, as if NimBLE's task and the scheduler's callbacks ran at this jump.
    s = S
    s.due = False
    s.points += 1
    bt = sys.modules.get("bluetooth")
    ble = None if bt is None else bt._ble
    e0 = 0 if ble is None else ble.events
    w = sys.modules.get("world")
    w = None if w is None else w._current
    i0 = 0 if w is None else w.irq_count
    b = None if bt is None else bt._bridge
    s.n += 1
    s.free += 1
    try:
        if b is not None and (w is None or not w._irq_off):  # (see holds_gil)
            b.preempt()  # events that came meanwhile: the bridge's, or vcentral's held ones
        if w is not None and not w.clock.realtime:
            step = 0
            if where == 1:  # at the end of a section, its C code's time is counted already
                x = s.x
                x ^= (x << 13) & _M32
                x ^= x >> 17
                x ^= (x << 5) & _M32
                s.x = x
                step = w.clock.to_world(s.step_lo + x % s.step_span)
            w._sleep(step, False)
        elif w is not None:
            w.fire_due()
    finally:
        s.free -= 1
        s.n -= 1
        if w is not None and w._irq_off and b is not None:
            s.due = True  # the events wait for enable_irq (the end of its section)
        if ble is not None:
            s.handed[where] += ble.events - e0
        if w is not None:
            s.callbacks[where] += w.irq_count - i0
