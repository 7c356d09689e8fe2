# The firmware's COBS, CRC and serial link under MicroPython, against the shared vectors
# (tests/vectors/serial_link_v1.json, which the host checks against the PyPI cobs package).
# Usage: cobs_fw.py VECTORS_JSON. Prints "OK name" or "FAIL name: detail" lines, then "DONE".
import io
import json
import sys

import micropython
import time

from fm import cobs
from fm.seriallink import SerialLink

V = json.load(open(sys.argv[1]))
fails = 0


def check(name, ok, detail=""):
    global fails
    if ok:
        print("OK", name)
    else:
        fails += 1
        print("FAIL", name + ":", detail)


def hx(b, n=None):
    return "".join("%02x" % x for x in (b if n is None else memoryview(b)[:n]))


# --- COBS and CRC vectors -------------------------------------------------------------------
bad = []
for case in V["cobs"]:
    raw = bytes.fromhex(case["raw"])
    dst = bytearray(cobs.max_encoded(len(raw)) + 4)
    n = cobs.encode(raw, len(raw), dst, 2)
    if hx(memoryview(dst)[2 : 2 + n]) != case["encoded"]:
        bad.append(case["raw"][:16])
check("cobs_encode_vectors", not bad, bad)

bad = []
for case in V["cobs"]:
    enc = bytearray(bytes.fromhex(case["encoded"]))
    out = bytearray(len(enc))
    n = cobs.decode(enc, len(enc), out)
    m = cobs.decode(enc, len(enc), enc)  # in place
    if n < 0 or hx(out, n) != case["raw"] or m != n or hx(enc, m) != case["raw"]:
        bad.append(case["encoded"][:16])
check("cobs_decode_vectors", not bad, bad)

bad = []
for h in V["cobs_invalid"]:
    enc = bytes.fromhex(h)
    if cobs.decode(enc, len(enc), bytearray(len(enc) + 1)) != -1:
        bad.append(h)
check("cobs_rejects_invalid", not bad, bad)

bad = []
for case in V["crc16"]:
    data = bytes.fromhex(case["data"])
    if cobs.crc16(data, 0, len(data)) != case["crc"]:
        bad.append(case["data"][:16])
check("crc16_vectors", not bad, bad)


# --- the link, with a scripted kit and streams ----------------------------------------------
class Control:
    def __init__(self):
        self.got = []
        self._resp = bytearray(4)

    def handle(self, data, encrypted):
        self.got.append((bytes(data), encrypted))
        r = self._resp
        r[0] = 0x80
        r[1] = data[1]
        r[2] = data[0]
        r[3] = 0
        return memoryview(r)


class Kit:
    def __init__(self):
        self.control = Control()
        self.events = []

    def on_connect(self):
        self.events.append("connect")

    def on_disconnect(self):
        self.events.append("disconnect")

    def on_mtu(self, mtu):
        self.events.append(mtu)


class Rx(io.IOBase):
    def __init__(self):
        self.data = bytearray()

    def ioctl(self, req, arg):
        if req == 3:  # MP_STREAM_POLL
            return (arg & 1) if self.data else 0
        return -1

    def readinto(self, buf, n=-1):
        k = len(self.data)
        if n >= 0 and n < k:
            k = n
        if k > len(buf):
            k = len(buf)
        for i in range(k):
            buf[i] = self.data[i]
        self.data = self.data[k:]
        return k


class Tx(io.IOBase):
    def __init__(self):
        self.data = bytearray()
        self.room = -1  # bytes it takes before it is full (-1: no limit)
        self.count = 0
        self.keep = True

    def write(self, buf, off, n):
        if self.room == 0:
            return None
        if self.room > 0 and n > self.room:
            n = self.room
        if self.room > 0:
            self.room -= n
        if self.keep:
            self.data += bytes(memoryview(buf)[off : off + n])
        self.count += n
        return n


def wire(tag, payload):
    for p in V["packets"]:
        if p["tag"] == tag and p["payload"] == payload:
            return bytes.fromhex(p["wire"])
    raise KeyError(tag)


def packets(data):
    # Split what the kit sent into (tag, payload) with the firmware's own decoder.
    out = []
    for part in bytes(data).split(b"\x00"):
        if not part:
            continue
        buf = bytearray(part)
        n = cobs.decode(buf, len(buf), buf)
        if n < 3 or cobs.crc16(buf, 0, n - 2) != buf[n - 2] | (buf[n - 1] << 8):
            out.append((-1, b""))
        else:
            out.append((buf[0], bytes(buf[1 : n - 2])))
    return out


intr = []
kit = Kit()
rx = Rx()
tx = Tx()
link = SerialLink(kit, "stylus", "1A2B3C", "FM-STYLUS-1", "abc123", "1.0.0", "A", rx, tx, True, 16)
link.kbd_intr = intr.append
HELLO = wire(0x82, "464d3144332211")

# Nothing is sent, and nothing but HELLO is taken, before a host attaches.
link.set_value(link.h_status, bytes(range(20)), notify=True)
rx.data += wire(0x81, "0107")
link.service()
check(
    "silent_until_hello",
    not tx.data and not kit.control.got and link.conn is None and not intr,
    (hx(tx.data), kit.control.got),
)

rx.data += HELLO
link.service()
got = packets(tx.data)
info = bytes([1, 1, 1, 0x1A, 0x2B, 0x3C]) + b"FM-STYLUS-1\0abc123\x001.0.0\0A"
check(
    "hello_attaches",
    link.conn is not None
    and link.encrypted
    and kit.events == ["connect", 247]
    and got == [(4, info), (3, bytes(range(20)))]
    and intr == [-1],
    (got, kit.events, intr),
)

tx.data = bytearray()
rx.data += HELLO  # keep-alive: same session
link.service()
check(
    "keepalive_same_session",
    packets(tx.data) == [(4, b"\x01\x00" + info[2:])] and kit.events == ["connect", 247],
    packets(tx.data),
)

# The kit's packets are byte for byte the shared vectors.
bad = []
for p in V["packets"]:
    if p["tag"] >= 0x80:
        continue
    tx.data = bytearray()
    handle = (link.h_data, link.h_control, link.h_status)[p["tag"] - 1]
    payload = bytes.fromhex(p["payload"])
    if not link.notify(handle, memoryview(payload)) or hx(tx.data) != p["wire"]:
        bad.append((p["name"], hx(tx.data)))
check("kit_packets_match_vectors", not bad, bad)

# A control request is answered; a corrupted one is dropped and counted.
tx.data = bytearray()
rx.data += wire(0x81, "0107")
link.service()
check(
    "request_answered",
    kit.control.got == [(b"\x01\x07", True)] and packets(tx.data) == [(2, b"\x80\x07\x01\x00")],
    (kit.control.got, packets(tx.data)),
)
corrupt = bytearray(wire(0x81, "0107"))
corrupt[2] ^= 0x10
tx.data = bytearray()
bad0 = link.bad
rx.data += corrupt + b"\x02\x00" + bytes(300) + b"\x01" * 300 + b"\x00" + wire(0x81, "0107")
link.service()
link.service()
check(
    "bad_packets_counted",
    link.bad == bad0 + 3 and len(kit.control.got) == 2 and len(packets(tx.data)) == 1,
    (link.bad - bad0, kit.control.got),
)

# Nothing allocates on the way out, nor while idle.
tx.keep = False
frame = memoryview(bytes.fromhex(V["packets"][-1]["payload"]))
src = bytes(range(1, 250))
dst = bytearray(300)
link.service()
micropython.heap_lock()
try:
    for _ in range(20):
        link.notify(link.h_data, frame)
        link.service()
        n = cobs.encode(src, len(src), dst, 0)
        cobs.decode(dst, n, dst)
        cobs.crc16(src, 0, len(src))
    heap_ok = True
except MemoryError:
    heap_ok = False
micropython.heap_unlock()
check("no_allocation", heap_ok)
tx.keep = True

# A stream that takes nothing: packets wait in the link's buffer, then notify says no; once the
# stream takes bytes again everything goes out, whole and in order.
tx.data = bytearray()
tx.room = 0
sent = 0
while link.notify(link.h_data, frame) and sent < 100:
    sent += 1
tx.room = -1
link.service()
got = packets(tx.data)
check(
    "backpressure",
    3 <= sent < 20 and len(got) == sent and all(g == (1, bytes(frame)) for g in got),
    (sent, len(got)),
)

# A host silent for 3 s is detached; Ctrl-C stays off.
link._last_rx = time.ticks_add(time.ticks_ms(), -3100)
link.service()
check(
    "silent_host_detached",
    link.conn is None and kit.events[-1] == "disconnect" and intr == [-1],
    (kit.events, intr),
)
tx.data = bytearray()
link.notify(link.h_data, frame)
check("nothing_sent_detached", not tx.data)

# The host comes back: a new connection; BYE detaches and gives Ctrl-C back.
tx.data = bytearray()
rx.data += HELLO
link.service()
check("reattach", link.conn is not None and packets(tx.data)[0][1][1] == 1, packets(tx.data))
rx.data = bytearray()
rx.data += wire(0x83, "")
link.service()
check("bye_releases", link.conn is None and intr == [-1, 3], intr)

# The long press (clear_bonds) hands the console back too.
rx.data += HELLO
link.service()
link.clear_bonds()
check("long_press_releases", link.conn is None and intr == [-1, 3, -1, 3], intr)

# The REPL packet stops the firmware (KeyboardInterrupt), attached or not.
rx.data += HELLO
link.service()
rx.data += wire(0x84, "")
try:
    link.service()
    stopped = False
except KeyboardInterrupt:
    stopped = True
check("repl_packet_stops", stopped and link.conn is None and intr[-1] == 3, intr)

# Bytes while no host is attached are not the link's: a HELLO of another protocol is dropped.
bad0 = link.bad
raw = bytearray(b"\x82XYZ1234\x00\x00")
crc = cobs.crc16(raw, 0, 8)
raw[8] = crc & 0xFF
raw[9] = crc >> 8
enc = bytearray(16)
n = cobs.encode(raw, 10, enc, 0)
rx.data += enc[:n] + b"\x00"
link.service()
check("foreign_hello_dropped", link.conn is None and link.bad == bad0 + 1)

print("DONE", fails)
