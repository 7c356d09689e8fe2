# The kit's whole firmware (Kit: sampler, framer, control point, GATT server) on the simulated
# board, with vcentral.Central as the computer, in virtual time, under the ESP32 stand-ins.
# Usage: micropython fidelity.py SCENARIO KIND ADC_CHIP|- [SEED]   (run in a scratch directory:
# the firmware's files go there). Prints "R key value" results and "F <hex>" for every data
# notification, "C <hex>" for every control response, in the order they were sent. With SEED,
# Bluetooth events and soft callbacks also preempt the main program at bytecode jumps (preempt.py:
# a tick every 60-150 us of host time, the main program's Python taking up to 2 ms of device
# time between two), the ticks seeded with SEED.
import binascii
import gc
import struct
import sys

import utime  # the host's clock

from world import World

SCEN = sys.argv[1]
KIND = sys.argv[2]
CHIP = sys.argv[3] if sys.argv[3] != "-" else None
SEED = int(sys.argv[4]) if len(sys.argv) > 4 else 0

gc.collect()
heap0 = gc.mem_alloc()
w = World(KIND, seed=5, adc_chip=CHIP)
import asyncio  # noqa: E402  (after the World)

import bluetooth  # noqa: E402
import vcentral  # noqa: E402

c = vcentral.Central(w)
if SEED:
    import preempt as jumps_at  # (`preempt` is a scenario's name below)

    jumps_at.start(every_us=(60, 150), step_us=(0, 2000), seed=SEED)
RPA_DEFAULT_S = bluetooth.BLE().rpa_timeout_us // 1000000
if SCEN == "privacy":
    # The stack renews its RPA every 15 minutes; a few seconds here keep the run short (virtual
    # time costs real time while the kit idles).
    bluetooth.BLE().rpa_timeout_us = 2000000
gc.collect()
heap1 = gc.mem_alloc()
from fm import devices  # noqa: E402
from fm.kit import Kit  # noqa: E402

if KIND == "stylus":
    from boards import stylus as board

    dev = devices.stylus(board)
else:
    from boards import grip as board

    dev = devices.grip(board, CHIP)
led, button, battery = devices.ui(board)
kit = Kit(dev, led, button, battery)
g = kit.link
ble = bluetooth.BLE()
gc.collect()
heap_kit = gc.mem_alloc() - heap1  # the firmware: drivers, Kit, GATT server, 32 s ring
T = [0, 0]  # the last token (it wraps at 256), requests written in all


def R(k, v):
    print("R", k, v)


def req(conn, op, payload=b"", during_notify=False):
    T[0] = (T[0] + 1) & 0xFF
    T[1] += 1
    c.write(conn, g.h_control, bytes((op, T[0])) + payload, during_notify)
    return T[0]


async def ms(n):
    await asyncio.sleep_ms(n)


async def session(mtu=247, window=True):
    # Open the pairing window, connect, pair, exchange the MTU: an encrypted link.
    if window:
        w.press_button(200, bounce=False)
        await ms(400)
    conn = c.connect()
    await ms(10)
    c.pair(conn)
    if mtu:
        c.mtu(conn, mtu)
    await ms(50)
    return conn


async def bonded_again(settle_ms):
    # The bonded computer connects again (no pairing: the bond's keys), then STARTs.
    conn = c.connect()
    await ms(10)
    c.encrypt(conn)
    c.mtu(conn, 247)
    await ms(settle_ms)
    req(conn, 0x01)
    return conn


def report_stream():
    # Report the samples taken, missed, the period and the first and last stamps; return the
    # count.
    s = kit.sampler
    ring = kit.ring
    n = ring.count
    R("samples", n)
    R("missed", s.missed)
    # The stylus samples from the MCU's timer (device clock), the grip on the ADC's own clock.
    R("period_ns", s._period * 1000 if KIND == "stylus" else w.truth["grip"]["period_ns"])
    R("t_first", ring.tick(ring.slot(0)))
    R("t_last", ring.tick(ring.slot(n - 1)))
    return n


class Out:
    # The computer's notifications, printed as they come (a list of them all would take the
    # heap the firmware needs).
    answered = 0

    def append(self, item):
        h, d = item
        if h == g.h_data:
            print("F", binascii.hexlify(d).decode())
        elif h == g.h_control:
            print("C", binascii.hexlify(d).decode())
            self.answered += 1


c.got = Out()


async def another_computer_pairs(tag, stay_ms):
    # The button opens a pairing window; a computer with address tag pairs, stays, leaves.
    w.press_button(200, bounce=False)
    await ms(400)
    peer = bytes((0, tag, 2, 3, 4, 5, 6))
    conn = c.connect(peer)
    await ms(10)
    c.pair(conn, peer)
    await ms(stay_ms)
    c.disconnect(conn, peer)


OUR_IRK = 10  # the stack's own IRK in the store (modbluetooth_nimble.c load_irk)


def bond_entries():
    return len([e for e in g._secrets if e[0][0] != OUR_IRK])


def common():
    if SEED:
        for k, v in jumps_at.counts().items():
            R(k, v)
    R("irq_errors", ble.irq_errors)
    R("handler", 0 if ble._handler is None else 1)
    R("store_loops", ble.store_loops)
    R("enomem", ble.enomem)
    if hasattr(g, "faults"):
        R("faults", g.faults)
    R("sched_dropped", w.sched_dropped)
    R("adv_len", len(c.adv))
    R("resp_len", len(c.resp))
    R("heap_kit", heap_kit)
    gc.collect()
    R("heap_total", gc.mem_alloc() - heap0)  # with the simulation and the test's records
    R("heap_free", gc.mem_free())


async def repair():
    # Item 1: a computer that forgot the kit pairs again.
    conn = await session()
    c.disconnect(conn)
    await ms(100)
    w.press_button(200, bounce=False)  # the person opens the pairing window again
    await ms(400)
    before = w.flash_writes.get("bonds.bin", 0)
    conn = c.connect()
    await ms(10)
    c.pair(conn, forgot=True)
    await ms(200)
    R("rewrites", w.flash_writes.get("bonds.bin", 0) - before)
    R("entries", bond_entries())
    R("encrypted", 1 if g.encrypted else 0)


async def bonds():
    # Item 7: five computers pair; the kit keeps four, each with both entries.
    for i in range(5):
        await another_computer_pairs(0x10 + i, 20)  # a pairing window for each computer
        await ms(20)
    await ms(100)
    peers = []
    for (t, k), _v in g._secrets:
        if t != OUR_IRK and k not in peers:
            peers.append(k)
    R("peers", len(peers))
    R("entries", bond_entries())
    R("first_kept", 1 if bytes((0, 0x10, 2, 3, 4, 5, 6)) in peers else 0)
    kept = 0
    for i in range(1, 5):
        peer = bytes((0, 0x10 + i, 2, 3, 4, 5, 6))
        if c._get(1, 0, peer) is not None and c._get(2, 0, peer) is not None:
            kept += 1
    R("whole", kept)
    with open("bonds.bin", "rb") as f:
        R("file_bytes", len(f.read()))


async def fault():
    # Item 2: the sensor stops answering, then START.
    conn = await session()
    req(conn, 0x01)
    await ms(500)
    req(conn, 0x02)
    await ms(300)
    w.fail("nau7802")
    await ms(100)
    tok = req(conn, 0x01)
    await ms(100)
    R("start_token", tok)
    adverts = c.adverts
    c.disconnect(conn)
    await ms(100)
    R("readvertised", c.adverts - adverts)
    R("advertising", 1 if c.advertising else 0)
    conn = c.connect()
    await ms(10)
    c.encrypt(conn)
    await ms(20)
    R("after_token", req(conn, 0x06))
    await ms(100)


async def preempt():
    # Item 3: STOP, START and BACKFILL arrive while the main program is inside gatts_notify.
    # A computer on a 30 ms interval: a backlog drains after each STOP, so START comes
    # while frames are still being sent.
    conn = await session(mtu=0)
    c.interval(30000)
    req(conn, 0x01)
    await ms(300)
    for i in range(40):
        req(conn, 0x02, during_notify=True)
        await ms(60)
        req(conn, 0x01, during_notify=True)
        await ms(60)
        if i % 4 == 0:
            req(conn, 0x07, struct.pack("<HH", (kit.ring.count - 200) & 0xFFFF, 100), True)
            await ms(60)
    c.interval(7500)  # the computer speeds up: the backlog drains, a backfill gets through
    await ms(1500)
    req(conn, 0x07, struct.pack("<HH", (kit.ring.count - 600) & 0xFFFF, 500), True)
    await ms(1500)
    req(conn, 0x02)
    await ms(200)
    R("overwritten", kit.framer.overwritten)


async def stall():
    # Item 4: a computer pairs (bonds.bin) and CAL_COMMIT (cal.bin) while the kit samples.
    conn = await session()
    req(conn, 0x01)
    await ms(1000)
    blob = kit.cal.blob
    crc = binascii.crc32(blob) & 0xFFFFFFFF
    for k in range(2):
        for off in range(0, len(blob), 100):
            req(conn, 0x09, struct.pack("<H", off) + blob[off : off + 100])
            await ms(20)
        req(conn, 0x0A, struct.pack("<HI", len(blob), crc))
        await ms(700)
        c.disconnect(conn)  # sampling goes on; another computer pairs meanwhile
        await ms(50)
        await another_computer_pairs(0x70 + k, 300)
        await ms(50)
        conn = await bonded_again(50)
        await ms(700)
    n = report_stream()
    R("period_us", kit.sampler._period)
    req(conn, 0x07, struct.pack("<HH", 0, n & 0xFFFF))  # everything again, as backfill
    await ms(3000)
    req(conn, 0x02)
    await ms(300)
    R("cal_writes", w.flash_writes.get("cal.bin.new", 0))
    R("bond_writes", w.flash_writes.get("bonds.bin", 0))


async def enomem():
    # Item 6: a flood of data notifications to ENOMEM; no control response lost.
    conn = await session(mtu=0)
    c.interval(30000)  # a computer on a 30 ms connection interval: 133 packets a second
    req(conn, 0x01)
    await ms(300)
    for i in range(40):
        req(conn, 0x06)
        if i % 10 == 0:
            req(conn, 0x07, struct.pack("<HH", (kit.ring.count - 250) & 0xFFFF, 250))
        await ms(25)
    await ms(500)
    R("requests", T[0])
    R("dropped_requests", getattr(kit, "requests_dropped", -1))


async def reconnect():
    # A computer pairs again while the kit streams: the kit saves its bonds (a 45 ms flash
    # write). Meanwhile the link drops and the computer is back, encrypted, writing START: the
    # handler records the new connection and posts START before the main program sees either.
    conn = await session()
    req(conn, 0x01)
    await ms(200)
    at = []
    commit = w.flash_commit

    def flash_commit(name, nbytes):
        if name == "bonds.bin" and not at:
            t = w.now()
            at.append(t)
            w.call_at(t + 2000, lambda _t: c.disconnect(conn))
            w.call_at(t + 5000, lambda _t: at.append(c.connect()))
            w.call_at(t + 12000, lambda _t: c.encrypt(at[1]))
            w.call_at(t + 14000, lambda _t: at.append(req(at[1], 0x01)))
        commit(name, nbytes)

    w.flash_commit = flash_commit
    c.pair(conn)
    await ms(300)
    w.flash_commit = commit
    R("inside_write", 1 if len(at) == 3 and w.now() > at[0] + 45000 else 0)
    R("start_token", at[2] if len(at) == 3 else -1)
    n = kit.ring.count
    await ms(100)
    R("sampling", 1 if kit.sampler.running and kit.ring.count > n else 0)
    R("armed", 1 if kit.armed else 0)  # data flows on the new connection
    R("encrypted", 1 if g.encrypted else 0)


async def answered():
    # A computer waits for the answers to what it asked before it goes (up to 2 s).
    for _ in range(200):
        if c.got.answered >= T[1]:
            return
        await ms(10)


async def jumps():
    # The whole control point, many times over, while the kit streams at its full rate (with
    # SEED, under dense preemption at bytecode jumps): a computer pairs, starts, asks for time,
    # backfill and the calibration, stages and commits one, leaves and comes back; then STOP
    # and START in turn; then the whole recording again as backfill.
    cal = kit.cal.blob
    crc = binascii.crc32(cal) & 0xFFFFFFFF
    conn = await session()
    req(conn, 0x01)
    await ms(200)
    for k in range(4):
        for i in range(12):
            req(conn, 0x06)
            await ms(7)
            req(conn, 0x07, struct.pack("<HH", (kit.ring.count - 120) & 0xFFFF, 60))
            await ms(11)
            req(conn, 0x08, struct.pack("<H", (i * 40) % len(cal)))
            await ms(5)
        for off in range(0, len(cal), 100):
            req(conn, 0x09, struct.pack("<H", off) + cal[off : off + 100])
            await ms(4)
        if k == 1:
            req(conn, 0x0A, struct.pack("<HI", len(cal), crc))
        await answered()
        c.disconnect(conn)
        await ms(30)
        conn = await bonded_again(20)
        await ms(150)
    report_stream()  # one START, sampling ever since
    ring = kit.ring
    # STOP and START in turn, ten times; with SEED, more until enough came between two
    # statements (ticks come from the host's clock: this takes longer on a slow host), within
    # 3 s of the host's time.
    t0 = utime.ticks_ms()
    i = 0
    while i < 10 or (
        SEED
        and (jumps_at.S.handed[1] < 20 or jumps_at.S.callbacks[1] < 200)
        and utime.ticks_diff(utime.ticks_ms(), t0) < 3000
    ):
        req(conn, 0x02)
        await ms(13 + i % 10)
        req(conn, 0x06)
        await ms(9)
        req(conn, 0x01)
        await ms(40)
        i += 1
    req(conn, 0x07, struct.pack("<HH", (ring.count - ring.held()) & 0xFFFF, ring.held()))
    await ms(3000)
    req(conn, 0x02)
    await answered()
    await ms(100)
    R("requests", T[1])  # tokens wrap: the test counts them
    R("dropped_requests", kit.requests_dropped)
    R("overwritten", kit.framer.overwritten)
    R("cal_writes", w.flash_writes.get("cal.bin.new", 0))


def heard(since):
    # What computers around heard since entry `since` of c.heard: "A t_us addr adv resp".
    for t, (_at, a), adv, resp in c.heard[since:]:
        print("A", t, binascii.hexlify(a).decode(), binascii.hexlify(adv).decode(),
              binascii.hexlify(resp).decode())
    return len(c.heard)


async def privacy():
    # Privacy on the air: a kit that nobody uses across a renewal of its address, then a
    # pairing window and a computer that pairs, then another renewal and that computer back.
    period_ms = ble.rpa_timeout_us // 1000
    R("rpa_default_s", RPA_DEFAULT_S)
    R("period_ms", period_ms)
    R("identity", binascii.hexlify(c.mac[1]).decode())
    R("irk", binascii.hexlify(ble.irk).decode())
    stored = [v for (t, _k), v in g._secrets if t == OUR_IRK]
    R("irk_stored", 1 if stored and stored[0] == ble.irk else 0)
    await ms(period_ms - 500)
    R("addr_before", binascii.hexlify(c.addr[1]).decode())
    await ms(1000)  # the renewal falls in here
    R("addr_after", binascii.hexlify(c.addr[1]).decode())
    R("window_at", w.now())
    conn = await session()  # the button, a computer pairs
    R("paired_at", w.now())
    c.disconnect(conn)
    await ms(600)  # the window closed on the pairing: the kit id goes off the air
    R("window_open", 1 if g.pairing_open else 0)
    R("closed_at", w.now())
    await ms(period_ms)  # another renewal
    R("addr_later", binascii.hexlify(c.addr[1]).decode())
    heard(0)
    identity = c.resolve(c.addr)  # the bonded computer recognises the kit under its new RPA
    R("resolved", "none" if identity is None else binascii.hexlify(identity[1]).decode())
    conn = c.connect()
    await ms(10)
    R("reencrypted", 1 if c.encrypt(conn) else 0)
    await ms(20)
    R("encrypted", 1 if g.encrypted else 0)
    R("status_token", req(conn, 0x06))
    await ms(100)
    R("rotations", ble.rotations)


async def main():
    asyncio.create_task(kit.run())
    await ms(100)
    await globals()[SCEN]()
    common()


asyncio.run(main())
