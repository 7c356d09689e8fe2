# The stand-ins' ESP32 rules on their own, without the firmware. Usage: stand_ins.py CASE
# [jumps]   (jumps: with preemption at bytecode jumps, preempt.py). Prints "R key value" lines.
import sys

from world import World

CASE = sys.argv[1]
JUMPS = len(sys.argv) > 2 and sys.argv[2] == "jumps"
w = World("stylus", seed=3)
import bluetooth  # noqa: E402
import machine  # noqa: E402
import preempt  # noqa: E402
import time  # noqa: E402
import utime  # noqa: E402  (the host's clock)
import vcentral  # noqa: E402

c = vcentral.Central(w)
ble = bluetooth.BLE()
ble.active(True)
if JUMPS:
    preempt.start(every_us=(60, 150), step_us=(0, 100), seed=3)


def R(k, v):
    print("R", k, v)


def wait_ticks(k=3):
    # With jumps: spin (Python of the caller's own) until k preemption ticks came; how many.
    t = preempt.S.ticks
    for _ in range(3_000_000 if JUMPS else 0):
        if preempt.S.ticks >= t + k:
            break
    return preempt.S.ticks - t


def raised(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except Exception as e:
        return type(e).__name__ + " " + str(e)
    return "none"


if CASE == "irq_exception":
    seen = []

    def bad(event, data):
        seen.append(event)
        raise OSError(19)  # e.g. a sensor read that failed inside the handler

    ble.irq(bad)
    conn = c.connect()
    w.advance(5000)
    c.disconnect(conn)
    w.advance(5000)
    R("events", len(seen))

elif CASE == "irq_views":
    kept = []

    def keep(event, data):
        kept.append(data[2])  # the address, a memoryview: valid only during the call
        R("inside", bytes(data[2]).hex())
        R("ticks_in_handler", wait_ticks())

    ble.irq(keep)
    c.connect(b"\x00\x01\x02\x03\x04\x05\x06")
    w.advance(5000)
    R("after", bytes(kept[0]).hex())

elif CASE == "adverts":
    R("a31", raised(ble.gap_advertise, 100000, bytes(31)))
    R("a32", raised(ble.gap_advertise, 100000, bytes(32)))
    R("r32", raised(ble.gap_advertise, 100000, bytes(3), resp_data=bytes(32)))

elif CASE == "addr_mode":
    # extmod/nimble/modbluetooth_nimble.c: load_irk on active(True), set_address_mode,
    # get_current_address.
    ble.active(False)
    R("rpa_inactive", raised(ble.config, addr_mode=2))
    ble.active(True)  # no handler: the store cannot answer
    R("irk_no_handler", ble.irk.hex())
    store = {}
    asked = []

    def secrets(event, data):
        if event == 29:  # _IRQ_GET_SECRET
            asked.append("get %d %s" % (data[0], bytes(data[2]).decode()))
            return store.get((data[0], bytes(data[2])))
        if event == 30:  # _IRQ_SET_SECRET
            asked.append("set %d %s" % (data[0], bytes(data[1]).decode()))
            store[(data[0], bytes(data[1]))] = bytes(data[2])
            return True
        return None

    ble.irq(secrets)
    ble.active(False)
    ble.active(True)
    R("asked", ",".join(asked))
    R("irk_stored", 1 if store.get((10, b"irk")) == ble.irk else 0)
    first = ble.irk
    R("mac_static", raised(ble.config, "mac"))
    ble.config(addr_mode=2)
    a = c.addr[1]
    R("rpa", a.hex())
    R("resolves", 1 if bluetooth.resolves(ble.irk, a) else 0)
    R("mac_rpa", raised(ble.config, "mac"))
    R("public", raised(ble.config, addr_mode=0))  # the simulated board has no public address
    ble.active(False)
    ble.active(True)  # a reboot: the same IRK from the store
    R("same_irk", 1 if ble.irk == first else 0)

elif CASE == "notify":
    ((h,),) = ble.gatts_register_services(((bluetooth.UUID(0x1234), ((bluetooth.UUID(0x2345), 0x10),)),))
    conn = c.connect()
    w.advance(5000)
    out = []
    t0 = w.now()
    for _ in range(20):
        out.append(raised(ble.gatts_notify, conn, h, b"x"))
    R("ok", out.count("none"))
    R("enomem", sum(1 for r in out if "ENOMEM" in r or "12" in r))
    R("blocked_us", w.now() - t0 - 20 * 60)
    w.advance(7500)
    R("later", [raised(ble.gatts_notify, conn, h, b"x") for _ in range(6)].count("none"))

elif CASE == "soft":
    R("timer_hard", raised(machine.Timer(0).init, freq=100, callback=print, hard=True))
    p = machine.Pin(5, machine.Pin.IN)
    R("pin_hard", raised(p.irq, handler=print, hard=True))
    R("pin_priority", raised(p.irq, handler=print, priority=1))

elif CASE == "sched":
    stamps = []
    in_callbacks = [0]

    def tick(t):
        stamps.append(time.ticks_us())
        if len(stamps) == 12:  # one of those that queued through the flash write
            in_callbacks[0] = wait_ticks()

    tim = machine.Timer(0)
    tim.init(freq=1000, callback=tick)
    w.advance(10_500)
    before = len(stamps)
    t_stall = time.ticks_us()
    w.flash_commit("x.bin", 100)  # a flash write: 45.7 ms with no callback running
    t_end = time.ticks_us()
    w.advance(200)
    tim.deinit()
    late = stamps[before:]
    R("before", before)
    R("stall_us", t_end - t_stall)
    R("ran_after", len(late))
    R("dropped", w.sched_dropped)
    R("first_late_us", late[0] - t_stall)
    R("bunched_us", late[7] - late[0])
    R("ticks_in_callback", in_callbacks[0])

elif CASE == "handler_locked":
    ticks = []
    inside = []

    def tick(t):
        ticks.append(1)

    in_handler = [0]

    def handler(event, data):
        n = len(ticks)
        with open("bonds.bin", "wb") as f:  # a flash write inside the handler
            f.write(b"x")
        in_handler[0] = wait_ticks()
        inside.append(len(ticks) - n)

    ble.irq(handler)
    tim = machine.Timer(0)
    tim.init(freq=1000, callback=tick)
    w.advance(3000)
    c.connect()
    w.advance(60_000)
    R("ran_inside", inside[0])
    R("dropped", w.sched_dropped)
    R("ticks_in_handler", in_handler[0])  # with jumps: preemption points that had to wait

elif CASE == "jump":
    # An event reaches the handler between two statements of a loop that calls nothing.
    seen = [0]

    def count(event, data):
        seen[0] += 1

    ble.irq(count)
    c.connect()  # comes 1.25 ms on, in world time
    t0 = w.now()
    i = 0
    at = -1
    while i < 5_000_000:
        if seen[0]:
            at = i
            break
        i += 1
    R("at", at)  # the iteration that saw it
    R("world_us", w.now() - t0)  # the loop's own Python took world time
    for k, v in preempt.counts().items():
        R(k, v)

elif CASE == "section":
    # An event that comes due while the main program is in the port's C code (here a call
    # taking 5 ms, as a long bus transfer or a flash write does) reaches the handler after it.
    inside = [0]
    when = []

    def note(event, data):
        when.append(inside[0])

    def c_call():
        inside[0] = 1
        w.clock.sleep_us(5000, False)  # the time an operation takes (clock.py)
        inside[0] = 0

    ble.irq(note)
    c.connect()
    preempt.section(c_call)()
    R("inside", ",".join(str(x) for x in when))  # 1: during the call, 0: after it
    R("at_exit", preempt.counts()["at_exit"])

elif CASE == "shared_list":
    # What the firmware must not do: the handler changes a list that the main program walks.
    # The main program checks each walk against the length it started with.
    items = list(range(64))
    ((h,),) = ble.gatts_register_services(
        ((bluetooth.UUID(0x1234), ((bluetooth.UUID(0x2345), 0x08),)),)
    )

    def grow(event, data):
        if event == 3:  # _IRQ_GATTS_WRITE
            items.append(-1)

    ble.irq(grow)
    conn = c.connect()
    w.advance(5000)

    def write(t):  # the computer writes every 250 us, in world time
        c.deliver(0x77, bytes((conn, 0, h, 0, 1)))
        w.call_at(t + 250, write)

    w.call_at(w.now() + 250, write)
    caught = 0
    walks = 0
    t0 = now = utime.ticks_ms()
    while caught < 3 and utime.ticks_diff(now, t0) < 3000:  # up to 3 s of the host's time
        n = len(items)
        seen = 0
        for _ in items:
            seen += 1
        if seen != n:
            caught += 1
        walks += 1
        del items[64:]
        w.advance(50)  # between walks: the time a call into the stack takes
        if not walks % 100:
            now = utime.ticks_ms()
    R("walks", walks)
    R("caught", caught)

if JUMPS:
    for k, v in preempt.counts().items():
        R(k, v)
