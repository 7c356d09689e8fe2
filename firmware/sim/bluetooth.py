# MicroPython's `bluetooth` module for the simulated kit: the standard BLE API (peripheral and
# GATT server), served by the bridge in the host process (finemotor.transport.virtual.bridge),
# which runs a bumble peripheral on the virtual radio. The firmware imports it unmodified.
#
#   import bluetooth
#   bluetooth.connect_bridge("127.0.0.1", port)   # once, before the firmware calls BLE()
#   bluetooth.on_sim(fn)                           # fn(op, value), op one of SIM_* below
#
# As strict as the ESP32 port (MicroPython with NimBLE), each rule citing the source it models
# (docs/simulation.md lists them): an exception unregisters the handler; the handler runs with
# the scheduler locked; its memoryviews are garbage once it returns; the store's delete is
# repeated until it answers False; gatts_notify raises ENOMEM when NimBLE's buffers are used up
# and never blocks; an advertising payload over 31 bytes is refused; calls into the stack take
# time, during which due events happen (they preempt the main program, not only at awaits);
# with preempt.py started (realtime kits: run_kit.py), events reach the handler at any bytecode
# jump of the main program, and one that comes during a call into the stack (the port's C
# code, which keeps the GIL) at the jump after it; config(addr_mode=2) makes the kit advertise
# resolvable private addresses, made from the stack's own identity resolving key (IRK, loaded
# from the store as NimBLE does on active(True)) and renewed every _RPA_TIMEOUT_S.
#
# Two backends: one TCP socket to the bridge (realtime), or vcentral.Central (virtual time, in
# this process). To the bridge, frames `u8 opcode | u16 length (LE) | payload` both ways, the
# opcodes named _OP_* below (docs/virtual-radio.md, "The kit's side"). Events from the bridge
# reach the irq handler from an asyncio task this module starts (it wakes when the socket has
# data, and at least every second), inside calls into the stack, and (preempt.py) at the main
# program's next bytecode jump once the socket has data. Calls that need an answer (active,
# gatts_register_services) block for it with a timeout, answering the bridge's secret requests
# meanwhile, as the stack's store callbacks can run at any time.
import errno
import os
import select
import socket
import struct
import sys

import asyncio
import utime
from micropython import const

FLAG_READ = const(0x0002)
FLAG_WRITE_NO_RESPONSE = const(0x0004)
FLAG_WRITE = const(0x0008)
FLAG_NOTIFY = const(0x0010)
FLAG_INDICATE = const(0x0020)

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_GATTS_INDICATE_DONE = const(20)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)
_IRQ_PASSKEY_ACTION = const(31)

# The wire's opcodes (finemotor.transport.virtual.wire.Opcode has the same names, without _OP_;
# docs/virtual-radio.md, "The wire", their payloads). Calls to the bridge:
_OP_HELLO = const(0x48)  # 'H' connect_bridge(), answered by _OP_HELLO_ANSWER
_OP_ACTIVE = const(0x41)  # 'A' active(on), answered by _OP_ACTIVE_ANSWER
_OP_CONFIG = const(0x43)  # 'C' config(): mtu, bond, le_secure, mitm, io, gap_name
_OP_REGISTER = const(0x52)  # 'R' gatts_register_services(), answered by _OP_REGISTER_ANSWER
_OP_LOCAL_WRITE = const(0x57)  # 'W' gatts_write(): handle, send_update, value
_OP_SET_BUFFER = const(0x42)  # 'B' gatts_set_buffer(): handle, size, append
_OP_NOTIFY = const(0x4E)  # 'N' gatts_notify/indicate(): conn, handle, kind, data
_OP_ADVERTISE = const(0x56)  # 'V' gap_advertise(): interval, flags, adv length, adv, resp
_OP_DISCONNECT = const(0x44)  # 'D' gap_disconnect(): conn
_OP_PAIR = const(0x58)  # 'X' gap_pair(): conn
_OP_PASSKEY = const(0x50)  # 'P' gap_passkey(): conn, action, passkey
_OP_OWN_ADDRESS = const(0x4F)  # 'O' the stack's own address from now: addr_type, addr
_OP_IRK = const(0x4B)  # 'K' the stack's own IRK, least significant byte first
_OP_SECRET_ANSWER = const(0x53)  # 'S' the store's answer to _OP_GET/SET_SECRET: req, result
# From the bridge: answers, the stack's events, the simulation's controls.
_OP_HELLO_ANSWER = const(0x68)  # 'h' the kit's identity: addr_type, addr
_OP_ACTIVE_ANSWER = const(0x61)  # 'a' ok (empty: failed)
_OP_REGISTER_ANSWER = const(0x72)  # 'r' value handles per service (empty: failed)
_OP_CENTRAL_CONNECT = const(0x63)  # 'c' conn, addr_type, addr
_OP_CENTRAL_DISCONNECT = const(0x64)  # 'd' conn, addr_type, addr
_OP_CENTRAL_WRITE = const(0x77)  # 'w' conn, handle, the new local value
_OP_MTU_EXCHANGED = const(0x6D)  # 'm' conn, mtu
_OP_ENCRYPTION_UPDATE = const(0x65)  # 'e' conn, encrypted, authenticated, bonded, key size
_OP_GET_SECRET = const(0x67)  # 'g' req, sec_type, index, has_key, key
_OP_SET_SECRET = const(0x73)  # 's' req, sec_type, key_len, key, has_value, value
_OP_PASSKEY_ACTION = const(0x6B)  # 'k' conn, action, passkey
_OP_INDICATE_DONE = const(0x69)  # 'i' conn, handle, status
_OP_BUTTON = const(0x62)  # 'b' press the button: ms (the on_sim hook's SIM_BUTTON)
_OP_BATTERY = const(0x76)  # 'v' set the battery: mV (SIM_BATTERY)
_OP_LOAD = const(0x6C)  # 'l' the load rig's force: mN (SIM_LOAD)
_OP_TRUTH = const(0x74)  # 't' write the world's truth to truth.json (SIM_TRUTH)
_OP_RENEW_ADDRESS = const(0x6E)  # 'n' the controller's RPA timer fires now
_OP_QUIT = const(0x71)  # 'q' the process ends

# The on_sim hook's ops (run_kit.py's _sim), one per simulation control of the bridge.
SIM_BUTTON = const(0)  # press the button for value ms
SIM_BATTERY = const(1)  # set the battery to value mV
SIM_LOAD = const(2)  # the load rig's force in mN (0xFFFFFFFF: none)
SIM_TRUTH = const(3)  # write the world's truth to truth.json

_RX = const(1024)  # the bridge sends frames of at most 3 + 600 bytes
_TX = const(608)
_REPLY_MS = const(10000)  # answers to active() and gatts_register_services()
_SEND_MS = const(1000)  # a full socket buffer: give up after this long
_IDLE_MS = const(1000)
_DEFAULT_BUF = const(20)  # value buffer of a characteristic until written locally
_IPPROTO_TCP = const(6)
_TCP_NODELAY = const(1)
# extmod/nimble/modbluetooth_nimble.c mp_bluetooth_gap_advertise_start -> nimble/host/src/
# ble_gap.c ble_gap_adv_set_data / ble_gap_adv_rsp_set_data: legacy PDUs carry at most
# BLE_HS_ADV_MAX_SZ (31) bytes, else BLE_HS_EINVAL (OSError EINVAL).
_ADV_MAX = const(31)
# mp_bluetooth_gatts_notify_indicate: ble_hs_mbuf_from_flat takes a buffer from NimBLE's msys
# pool (ESP-IDF CONFIG_BT_NIMBLE_MSYS_1_BLOCK_COUNT) and returns MP_ENOMEM when there is none;
# a buffer comes back when the controller has sent its packet. Modelled: _POOL buffers, up to
# _PER_EVENT packets sent per connection event (every _EVENT_US unless the central chose
# another interval).
_POOL = const(12)
_PER_EVENT = const(4)
_EVENT_US = const(7500)
# nimble/host/src/ble_store_util.c ble_store_util_delete_all calls the store's delete until it
# answers BLE_HS_ENOENT; a store that always answers "deleted" keeps NimBLE's task there. The
# stand-in stops after _DELETE_LIMIT passes and counts it (store_loops).
_DELETE_LIMIT = const(16)
# Time a call into the stack takes on the device (copy into an mbuf, the host lock).
_CALL_US = const(60)
_IRQ_MEM = const(512)

# Own address modes: extmod/modbluetooth.h MP_BLUETOOTH_ADDRESS_MODE_*.
_ADDR_PUBLIC = const(0)
_ADDR_RANDOM = const(1)
_ADDR_RPA = const(2)
_ADDR_NRPA = const(3)
# extmod/nimble/modbluetooth_nimble.c load_irk, run by sync_cb inside active(True): the stack's
# own IRK is read from the store (_IRQ_GET_SECRET, type SECRET_TYPE_OUR_IRK, key b"irk"); if
# there is none, a random one is offered to it (_IRQ_SET_SECRET) and used only if the store
# took it; otherwise NimBLE keeps its fixed default (nimble/host/src/ble_hs_pvcy.c
# ble_hs_pvcy_default_irk), the same on every device: a handler registered after active(True)
# leaves the kit with that one.
_SECRET_OUR_IRK = const(10)
_DEFAULT_IRK = b"\xef\x8d\xe2\x16\x4f\xec\x43\x0d\xbf\x5b\xdd\x34\xc0\x53\x1e\xb8"
# nimble/host/src/ble_hs_pvcy.c ble_hs_pvcy_ensure_started: the controller renews the RPA every
# MYNEWT_VAL(BLE_RPA_TIMEOUT) seconds, ESP-IDF's CONFIG_BT_NIMBLE_RPA_TIMEOUT (900 by default).
_RPA_TIMEOUT_S = const(900)

_bridge = None
_ble = None


def _ah(irk, prand):
    # The random address hash ah(k, r) (Core spec Vol 3, Part H, 2.2.2): AES-128 of the 24-bit
    # prand padded to 128 bits, keyed with the IRK; its low 24 bits. irk as the stack keeps it
    # (least significant byte first), prand and the result most significant byte first.
    import cryptolib

    e = cryptolib.aes(bytes(reversed(irk)), 1).encrypt(bytes(13) + bytes(prand))
    return e[13:16]


def resolves(irk, addr):
    # True if the address (6 bytes, most significant first) is an RPA made from this IRK:
    # what a bonded computer's stack checks (nimble/host/src/ble_hs_resolv.c, bumble's
    # smp.AddressResolver.resolve).
    return (addr[0] >> 6) == 1 and _ah(irk, addr[0:3]) == bytes(addr[3:6])


def _rpa(irk):
    # A new resolvable private address: prand (top bits 0b01) then ah(irk, prand).
    prand = bytearray(os.urandom(3))
    prand[0] = (prand[0] & 0x3F) | 0x40
    return bytes(prand) + _ah(irk, prand)


def connect_bridge(host, port):
    # Connect to the bridge (call once, before BLE()); returns the kit's (addr_type, addr).
    global _bridge
    if _bridge is not None:
        raise OSError(errno.EALREADY)
    _bridge = _Bridge(host, port)
    asyncio.create_task(_bridge.pump())
    return _bridge.mac


def attach(backend):
    # Use an in-process backend (vcentral.Central) instead of the bridge.
    global _bridge
    if _bridge is not None:
        raise OSError(errno.EALREADY)
    _bridge = backend


def on_sim(fn):
    # fn(op, value) runs in the pump task for the bridge's simulation controls: op is one of
    # SIM_BUTTON, SIM_BATTERY, SIM_LOAD, SIM_TRUTH (above).
    _b().sim = fn


def _b():
    if _bridge is None:
        raise OSError(errno.ENODEV)  # bluetooth.connect_bridge() was not called
    return _bridge


class _Bridge:
    def __init__(self, host, port):
        s = socket.socket()
        s.connect(socket.getaddrinfo(host, port)[0][-1])
        s.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)  # events are small: no Nagle delay
        s.setblocking(False)
        self.sock = s
        self.poll = select.poll()
        self.poll.register(s, select.POLLIN)
        self.rx = bytearray(_RX)
        self.rxv = memoryview(self.rx)
        self.n = 0
        self.tx = bytearray(_TX)
        self.txv = memoryview(self.tx)
        self.later = []  # events that came while a call waited for its answer
        self.sim = None
        r = self.request(_OP_HELLO, _OP_HELLO_ANSWER)
        self.mac = (r[0], bytes(r[1:7]))

    # --- sending ------------------------------------------------------------------------
    def send(self, typ, fmt="<", *args):
        # One frame: the struct fields (fmt, args) then, if args has one more item than fmt
        # has fields, that buffer's bytes.
        tx = self.tx
        nf = len(fmt) - 1
        data = None
        if len(args) > nf:
            data = args[nf]
            args = args[:nf]
        n = 3 + struct.calcsize(fmt)
        struct.pack_into(fmt, tx, 3, *args)
        m = 0 if data is None else len(data)
        struct.pack_into("<BH", tx, 0, typ, n - 3 + m)
        if n + m <= _TX:
            if m:
                tx[n : n + m] = data
            self.write(self.txv[: n + m])
        else:
            self.write(self.txv[:n])
            self.write(memoryview(data))

    def write(self, buf):
        sock = self.sock
        t0 = utime.ticks_ms()
        while len(buf):
            k = sock.write(buf)
            if k:
                buf = buf[k:]
                continue
            p = select.poll()
            p.register(sock, select.POLLOUT)
            left = _SEND_MS - utime.ticks_diff(utime.ticks_ms(), t0)
            if left <= 0 or not p.poll(left):
                raise OSError(errno.ENOBUFS)

    # --- receiving ----------------------------------------------------------------------
    def _next(self):
        # Take the next whole frame out of the receive buffer: (type, payload) or None.
        n = self.n
        rx = self.rx
        if n < 3:
            return None
        end = 3 + (rx[1] | rx[2] << 8)
        if n < end:
            return None
        typ = rx[0]
        p = bytes(self.rxv[3:end])
        rx[: n - end] = self.rxv[end:n]
        self.n = n - end
        return typ, p

    def _frames(self, want):
        # Handle the buffered frames. want=None: dispatch all (the pump). Else return the
        # payload of the first frame of type `want`; answer secret requests at once and keep
        # the rest for the pump.
        while True:
            f = self._next()
            if f is None:
                return None
            typ, p = f
            if want is None or typ == _OP_GET_SECRET or typ == _OP_SET_SECRET:
                self.dispatch(typ, memoryview(p))
            elif typ == want:
                return p
            else:
                self.later.append(f)

    def _fill(self):
        if self.n >= _RX:
            raise OSError(errno.EMSGSIZE)
        k = self.sock.readinto(self.rxv[self.n :])
        if k is None:
            return
        if k == 0:
            _closed()
        self.n += k

    def request(self, typ, want, fmt="<", *args):
        # Send a frame (as send()) and wait for the bridge's answer of type `want`.
        self.send(typ, fmt, *args)
        t0 = utime.ticks_ms()
        while True:
            r = self._frames(want)
            if r is not None:
                if not r:  # the bridge could not do it (its log says why)
                    raise OSError(errno.EIO)
                return r
            left = _REPLY_MS - utime.ticks_diff(utime.ticks_ms(), t0)
            if left <= 0:
                raise OSError(errno.ETIMEDOUT)
            if self.poll.poll(left):
                self._fill()

    async def pump(self):
        # Delivers the bridge's events to the irq handler, in the device's asyncio loop. It
        # waits with read(0), which consumes nothing: a timeout can never lose data.
        stream = asyncio.StreamReader(self.sock)
        while True:
            self._take_later()
            try:
                await asyncio.wait_for_ms(stream.read(0), _IDLE_MS)
            except asyncio.TimeoutError:
                continue
            self._take_incoming()

    def _take_later(self):
        while self.later:
            typ, p = self.later.pop(0)
            self.dispatch(typ, memoryview(p))

    def _take_incoming(self):
        try:
            self._fill()
        except OSError:
            _closed()
        try:
            self._frames(None)
        except OSError as e:  # an answer that could not be sent: report, carry on
            sys.print_exception(e)

    def preempt(self):
        # Called inside the main program's calls into the stack, and at its preemption points
        # (preempt.py): events that came meanwhile reach the handler there (NimBLE's task
        # preempting it), not only at the pump's await.
        self._take_later()
        if self.poll.poll(0):
            try:
                self._fill()
            except OSError:
                _closed()
            self._frames(None)

    def dispatch(self, typ, p):
        ble = _ble
        if typ == _OP_CENTRAL_CONNECT or typ == _OP_CENTRAL_DISCONNECT:
            conn = p[0] | p[1] << 8
            if ble is None:
                return
            if typ == _OP_CENTRAL_CONNECT:
                ble._conns.append(conn)
                ble._irq(_IRQ_CENTRAL_CONNECT, (conn, p[2], ble._view(p[3:9])))
            elif conn in ble._conns:
                ble._conns.remove(conn)
                ble._irq(_IRQ_CENTRAL_DISCONNECT, (conn, p[2], ble._view(p[3:9])))
        elif typ == _OP_CENTRAL_WRITE:
            if ble is not None:
                h = p[2] | p[3] << 8
                ble._vals[h] = bytes(p[4 : 4 + ble._bufs.get(h, (_RX,))[0]])
                ble._irq(_IRQ_GATTS_WRITE, (p[0] | p[1] << 8, h))
        elif typ == _OP_MTU_EXCHANGED:
            if ble is not None:
                ble._irq(_IRQ_MTU_EXCHANGED, struct.unpack("<HH", p))
        elif typ == _OP_ENCRYPTION_UPDATE:
            if ble is not None:
                c, e, a, b, k = struct.unpack("<HBBBB", p)
                ble._irq(_IRQ_ENCRYPTION_UPDATE, (c, bool(e), bool(a), bool(b), k))
        elif typ == _OP_GET_SECRET:
            v = None
            if ble is not None:
                key = ble._view(p[4:]) if p[3] else None
                v = ble._irq(_IRQ_GET_SECRET, (p[1], p[2], key))
            if v is None:
                self.send(_OP_SECRET_ANSWER, "<BB", p[0], 0)
            else:
                self.send(_OP_SECRET_ANSWER, "<BB", p[0], 1, v)
        elif typ == _OP_SET_SECRET:
            kl = p[2]
            ok = False
            if ble is not None and p[3 + kl]:
                key = ble._view(p[3 : 3 + kl])
                ok = ble._irq(_IRQ_SET_SECRET, (p[1], key, ble._view(p[4 + kl :])))
            elif ble is not None:
                ok = ble._delete_all(p[1], bytes(p[3 : 3 + kl]))
            self.send(_OP_SECRET_ANSWER, "<BB", p[0], 1 if ok else 0)
        elif typ == _OP_PASSKEY_ACTION:
            if ble is not None:
                ble._irq(_IRQ_PASSKEY_ACTION, struct.unpack("<HBI", p))
        elif typ == _OP_INDICATE_DONE:
            if ble is not None:
                ble._irq(_IRQ_GATTS_INDICATE_DONE, struct.unpack("<HHB", p))
        elif typ == _OP_BUTTON or typ == _OP_BATTERY:
            if self.sim is not None:
                op = SIM_BUTTON if typ == _OP_BUTTON else SIM_BATTERY
                self.sim(op, struct.unpack("<I", p)[0])
        elif typ == _OP_LOAD or typ == _OP_TRUTH:
            if self.sim is not None:
                self.sim(SIM_LOAD if typ == _OP_LOAD else SIM_TRUTH, struct.unpack("<I", p)[0])
        elif typ == _OP_RENEW_ADDRESS:  # a simulation control
            if ble is not None:
                ble._rotate()
        elif typ == _OP_QUIT:
            raise SystemExit(0)


def _world():
    # The simulated world of this kit, if any (its clock and scheduler).
    w = sys.modules.get("world")
    return None if w is None else w._current


def _closed():
    print("bluetooth: the bridge closed the connection", file=sys.stderr)
    raise SystemExit(3)


class UUID:
    # A 16-, 32- or 128-bit UUID, kept little-endian as MicroPython does.
    def __init__(self, v):
        if isinstance(v, UUID):
            b = v._b
        elif isinstance(v, int):
            b = struct.pack("<H", v) if v <= 0xFFFF else struct.pack("<I", v)
        elif isinstance(v, str):
            h = v.replace("-", "")
            if len(h) != 32:
                raise ValueError("invalid UUID")
            b = bytes(reversed(bytes.fromhex(h)))
        else:
            b = bytes(v)
            if len(b) not in (2, 4, 16):
                raise ValueError("invalid UUID")
        self._b = b

    def __eq__(self, other):
        return isinstance(other, UUID) and self._b == other._b

    def __hash__(self):
        return hash(self._b)

    def __repr__(self):
        b = self._b
        if len(b) == 2:
            return "UUID(0x%04x)" % (b[0] | b[1] << 8)
        if len(b) == 4:
            return "UUID(0x%08x)" % struct.unpack("<I", b)[0]
        h = "".join("%02x" % x for x in reversed(b))
        return "UUID('%s-%s-%s-%s-%s')" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def BLE():  # noqa: N802  (MicroPython's name)
    # The singleton BLE object.
    global _ble
    if _ble is None:
        _ble = _BLE()
    return _ble


class _BLE:
    def __init__(self):
        self._active = False
        self._handler = None
        self._cfg = {"mtu": 23, "bond": False, "le_secure": False, "mitm": False, "io": 3}
        self._cfg["gap_name"] = b"MPY NIMBLE"
        self._vals = {}  # value handle -> bytes
        self._bufs = {}  # value handle -> [size, append]
        self._conns = []
        self.busy = 0  # the handler is running (NimBLE's task delivers one event at a time)
        self.events = 0  # events handed to the handler
        self._mem = bytearray(_IRQ_MEM)
        self._mem_n = 0
        self._pool = _POOL
        self._pool_t = 0
        self.event_us = _EVENT_US  # the connection interval the central chose
        self.irq_errors = 0  # exceptions that reached the stack (each unregisters the handler)
        self.enomem = 0  # notifications refused for want of a buffer
        self.store_loops = 0  # deletes that would have kept NimBLE's task looping
        self.addr_mode = _ADDR_PUBLIC  # set on active(True): public if the board has one
        self.irk = None  # the stack's own IRK (16 bytes), loaded on active(True)
        self.own = None  # the address it advertises with: (addr_type, 6 bytes MSB first)
        self.rpa_timeout_us = _RPA_TIMEOUT_S * 1000000
        self.rotations = 0  # RPAs made
        self._rpa_due = -1  # world time of the next RPA, -1: none scheduled
        self._rpa_ms = 0  # without a world: ticks_ms of the last RPA

    def _irq(self, event, data):
        # extmod/modbluetooth.c invoke_irq_handler (sync events, as on the ESP32): the
        # handler runs with the scheduler locked (mp_sched_lock), so no Timer or Pin callback
        # runs inside it; invoke_irq_handler_run_protected: an exception is printed and the
        # handler unregistered (irq_handler = None) for good.
        h = self._handler
        if h is None:
            return None
        w = _world()
        if w is not None:
            w.sched_lock()
        r = None
        self.busy += 1
        self.events += 1
        try:
            r = h(event, data)
        except Exception as e:
            print("Unhandled exception in IRQ callback handler")
            sys.print_exception(e)
            self._handler = None
            self.irq_errors += 1
        # invoke_irq_handler_run: addr and data are memoryviews onto the stack's own buffers,
        # reused once the handler returns: a view kept past it reads garbage.
        m = self._mem
        for i in range(self._mem_n):
            m[i] = 0xA5
        self._mem_n = 0
        self.busy -= 1
        if w is not None:
            w.sched_unlock()
        return r

    def _view(self, b):
        # A memoryview of b in the IRQ data buffer (valid until the handler returns).
        n = self._mem_n
        k = len(b)
        self._mem[n : n + k] = b
        self._mem_n = n + k
        return memoryview(self._mem)[n : n + k]

    def _cost(self, us=_CALL_US):
        # A call into the stack takes time: due events (Bluetooth ones too) happen meanwhile.
        w = _world()
        if w is not None and not w.clock.in_irq:
            w.clock.sleep_us(us, False)
            if not self.busy:
                _b().preempt()

    def _take_buffer(self):
        # One msys buffer for a notification, or OSError(ENOMEM) (see _POOL).
        w = _world()
        now = utime.ticks_us() if w is None else w.clock.now_us()
        ev = (now - self._pool_t) // self.event_us
        if ev > 0:
            self._pool_t += ev * self.event_us
            self._pool = min(_POOL, self._pool + ev * _PER_EVENT)
        if self._pool <= 0:
            self.enomem += 1
            raise OSError(errno.ENOMEM)
        self._pool -= 1

    def _delete_all(self, sec_type, key):
        # nimble/host/src/ble_store_util.c ble_store_util_delete_all: delete until the store
        # answers "not found" (modbluetooth_nimble.c ble_secret_store_delete maps a False
        # from _IRQ_SET_SECRET to BLE_HS_ENOENT). True if anything was deleted.
        n = 0
        while self._irq(_IRQ_SET_SECRET, (sec_type, self._view(key), None)):
            n += 1
            if n >= _DELETE_LIMIT:
                self.store_loops += 1
                print("bluetooth: the store's delete never answered False (NimBLE would loop)")
                break
        return n > 0

    # --- configuration ------------------------------------------------------------------
    def active(self, *args):
        if args and bool(args[0]) != self._active:
            r = _b().request(_OP_ACTIVE, _OP_ACTIVE_ANSWER, "<B", 1 if args[0] else 0)
            if not r[0]:
                raise OSError(errno.EIO)
            self._active = bool(args[0])
            if not self._active:
                self._conns = []
                self._rpa_due = -1
            else:
                self._sync()
        return self._active

    def _sync(self):
        # modbluetooth_nimble.c sync_cb: the own address mode (public if the board has a
        # public address, else a static random one), then load_irk (see _SECRET_OUR_IRK).
        mac = _b().mac
        self.addr_mode = _ADDR_PUBLIC if mac[0] == 0 else _ADDR_RANDOM
        self._set_own(mac[0], mac[1])
        key = b"irk"
        v = self._irq(_IRQ_GET_SECRET, (_SECRET_OUR_IRK, 0, self._view(key)))
        if v is not None and len(v) == 16:
            irk = bytes(v)
        else:
            irk = os.urandom(16)
            if not self._irq(_IRQ_SET_SECRET, (_SECRET_OUR_IRK, self._view(key), self._view(irk))):
                irk = _DEFAULT_IRK
        self.irk = irk
        _b().send(_OP_IRK, "<", irk)  # the IRK the stack hands out when it pairs

    def _set_own(self, addr_type, addr):
        self.own = (addr_type, bytes(addr))
        _b().send(_OP_OWN_ADDRESS, "<B", addr_type, self.own[1])

    def _set_addr_mode(self, mode):
        # extmod/nimble/modbluetooth_nimble.c mp_bluetooth_set_address_mode: needs an active
        # stack; PUBLIC needs a public address (else EINVAL); RPA uses the public address as
        # identity (BLE_OWN_ADDR_RPA_PUBLIC_DEFAULT) or, without one, a static random address
        # (BLE_OWN_ADDR_RPA_RANDOM_DEFAULT: here the board's own, as
        # MICROPY_BLUETOOTH_USE_MP_HAL_GET_MAC_STATIC_ADDRESS makes it); NRPA is random.
        if not self._active:
            raise OSError(errno.ENODEV)  # ERRNO_BLUETOOTH_NOT_ACTIVE
        mac = _b().mac
        if mode == _ADDR_PUBLIC:
            if mac[0] != 0:
                raise OSError(errno.EINVAL)
            self._set_own(0, mac[1])
        elif mode == _ADDR_RANDOM:
            self._set_own(1, mac[1] if mac[0] else bytes((mac[1][0] | 0xC0,)) + mac[1][1:])
        elif mode == _ADDR_RPA:
            self.addr_mode = mode
            self._rotate()
            return
        elif mode == _ADDR_NRPA:
            a = bytearray(os.urandom(6))
            a[0] &= 0x3F
            self._set_own(1, a)
        else:
            raise ValueError("invalid addr_mode")
        self.addr_mode = mode
        self._rpa_due = -1

    def _rotate(self, t=None):
        # A new RPA now and every rpa_timeout_us (the controller's timer: the firmware sees
        # nothing; a connection keeps the address it was made with).
        if self.addr_mode != _ADDR_RPA or not self._active:
            return
        if t is not None and t != self._rpa_due:
            return  # a timer of an earlier mode or activation
        self._set_own(1, _rpa(self.irk))
        self.rotations += 1
        w = _world()
        if w is not None:
            self._rpa_due = w.now() + self.rpa_timeout_us
            w.call_at(self._rpa_due, self._rotate)
        else:
            self._rpa_ms = utime.ticks_ms()

    def config(self, *args, **kw):
        cfg = self._cfg
        if args:
            if len(args) != 1 or kw:
                raise TypeError("config: one parameter name, or keyword values")
            name = args[0]
            if name == "mac":
                self._need_active()
                if self.addr_mode >= _ADDR_RPA:
                    # mp_bluetooth_get_current_address: the RPA cannot be read back (EINVAL)
                    raise OSError(errno.EINVAL)
                return self.own
            if name == "gap_name":
                return cfg["gap_name"]
            if name in cfg:
                return cfg[name]
            raise ValueError("unknown config param")
        for k, v in kw.items():
            if k == "addr_mode":
                self._set_addr_mode(v)
                continue
            if k == "gap_name":
                v = v.encode() if isinstance(v, str) else bytes(v)
            elif k not in cfg:
                raise ValueError("unknown config param")
            cfg[k] = v
        _b().send(
            _OP_CONFIG,
            "<HBBBB",
            cfg["mtu"],
            1 if cfg["bond"] else 0,
            1 if cfg["le_secure"] else 0,
            1 if cfg["mitm"] else 0,
            cfg["io"],
            cfg["gap_name"],
        )
        return None

    def irq(self, handler):
        self._handler = handler

    def _need_active(self):
        if not self._active:
            raise OSError(errno.EPERM)  # the radio must be made active first

    # --- GAP ----------------------------------------------------------------------------
    def gap_advertise(self, interval_us, adv_data=None, *, resp_data=None, connectable=True):
        self._need_active()
        flags = (1 if connectable else 0) | (2 if adv_data is not None else 0)
        flags |= 4 if resp_data is not None else 0
        adv = b"" if adv_data is None else bytes(adv_data)
        resp = b"" if resp_data is None else bytes(resp_data)
        if len(adv) > _ADV_MAX or len(resp) > _ADV_MAX:
            raise OSError(errno.EINVAL)  # see _ADV_MAX
        iv = 0 if interval_us is None else max(interval_us, 1)
        if self._rpa_due < 0 and self.addr_mode == _ADDR_RPA and _world() is None:
            if utime.ticks_diff(utime.ticks_ms(), self._rpa_ms) >= self.rpa_timeout_us // 1000:
                self._rotate()
        _b().send(_OP_ADVERTISE, "<IBB", iv, flags, len(adv), adv + resp)

    def gap_disconnect(self, conn_handle):
        self._need_active()
        if conn_handle not in self._conns:
            return False
        _b().send(_OP_DISCONNECT, "<H", conn_handle)
        return True

    def gap_pair(self, conn_handle):
        self._need_active()
        if conn_handle not in self._conns:
            raise OSError(errno.ENOTCONN)
        _b().send(_OP_PAIR, "<H", conn_handle)

    def gap_passkey(self, conn_handle, action, passkey):
        self._need_active()
        _b().send(_OP_PASSKEY, "<HBI", conn_handle, action, passkey)

    # --- GATT server --------------------------------------------------------------------
    def gatts_register_services(self, services):
        # Returns one tuple of value handles per service: characteristics and their
        # descriptors flattened, in definition order; the handles are the server's own.
        self._need_active()
        out = bytearray()
        out.append(len(services))
        for svc in services:
            chars = svc[1]
            out += self._uuid_field(svc[0])
            out.append(len(chars))
            for ch in chars:
                descs = ch[2] if len(ch) > 2 else ()
                out += self._uuid_field(ch[0])
                out += struct.pack("<HB", ch[1], len(descs))
                for d in descs:
                    out += self._uuid_field(d[0])
                    out += struct.pack("<H", d[1])
        r = _b().request(_OP_REGISTER, _OP_REGISTER_ANSWER, "<", out)
        result = []
        i = 1
        for _ in range(r[0]):
            n = r[i]
            hs = struct.unpack("<%dH" % n, r[i + 1 : i + 1 + 2 * n])
            i += 1 + 2 * n
            for h in hs:
                self._vals[h] = b""
                self._bufs[h] = [_DEFAULT_BUF, False]
            result.append(hs)
        return tuple(result)

    @staticmethod
    def _uuid_field(u):
        b = UUID(u)._b
        return bytes((len(b),)) + b

    def gatts_read(self, value_handle):
        v = self._value(value_handle)
        if self._bufs[value_handle][1]:  # append mode: reading consumes the value
            self._vals[value_handle] = b""
            _b().send(_OP_LOCAL_WRITE, "<HB", value_handle, 0, b"")
        return v

    def gatts_write(self, value_handle, data, send_update=False):
        self._value(value_handle)
        v = data.encode() if isinstance(data, str) else bytes(data)
        self._vals[value_handle] = v
        buf = self._bufs[value_handle]
        if len(v) > buf[0]:
            buf[0] = len(v)  # a local write grows the buffer
        _b().send(_OP_LOCAL_WRITE, "<HB", value_handle, 1 if send_update else 0, v)

    def gatts_set_buffer(self, value_handle, length, append=False):
        self._value(value_handle)
        self._bufs[value_handle] = [length, bool(append)]
        _b().send(_OP_SET_BUFFER, "<HHB", value_handle, length, 1 if append else 0)

    def gatts_notify(self, conn_handle, value_handle, data=None):
        self._send_value(0, conn_handle, value_handle, data)

    def gatts_indicate(self, conn_handle, value_handle, data=None):
        self._send_value(1, conn_handle, value_handle, data)

    def _send_value(self, kind, conn, h, data):
        self._value(h)
        self._cost()
        if conn not in self._conns:
            raise OSError(errno.ENOTCONN)
        if data is None:
            data = self._vals[h]
        self._take_buffer()
        _b().send(_OP_NOTIFY, "<HHB", conn, h, kind, data)

    def _value(self, h):
        self._need_active()
        v = self._vals.get(h)
        if v is None:
            raise ValueError("invalid handle")
        return v

    # --- not simulated ------------------------------------------------------------------
    def _unsupported(self, *args, **kw):
        raise NotImplementedError("the simulated radio is a peripheral: GATT server only")

    gap_scan = gap_connect = gattc_discover_services = gattc_read = gattc_write = _unsupported
    gattc_discover_characteristics = gattc_discover_descriptors = _unsupported
    gattc_exchange_mtu = l2cap_listen = l2cap_connect = _unsupported
