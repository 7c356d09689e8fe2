# A computer on the kit's radio, in virtual time and in this process: the backend of the
# simulated `bluetooth` module for tests that need the kit's Bluetooth side exactly timed.
#
#   from world import World
#   w = World("grip", adc_chip="ads1220")
#   import vcentral
#   c = vcentral.Central(w)        # before the firmware calls bluetooth.BLE()
#   ... create the firmware's Kit, start its tasks ...
#   conn = c.connect()             # events happen at world times, through world.call_at,
#   c.pair(conn, c.peer)           # so they preempt the main program wherever time passes
#   c.write(conn, h, b"...")       # (a bus transfer, a call into the stack, a flash write)
#
# With preempt.py started, they also come between two statements of the main program (at a
# bytecode jump), and one that falls due while the main program is in the port's C code (a
# stand-in's call, a handler, a callback) waits for the jump after it, as NimBLE's task waits
# for the GIL (deliver, preempt).
#
# Pairing follows what NimBLE does on the kit (the peripheral), store calls included:
# nimble/host/src/ble_sm.c ble_sm_persist_keys writes OUR_SEC then PEER_SEC for a new bond;
# a computer that forgot the kit pairing again raises BLE_GAP_EVENT_REPEAT_PAIRING, on which
# extmod/nimble/modbluetooth_nimble.c (central_gap_event_cb) calls
# nimble/host/src/ble_store_util.c ble_store_util_delete_peer: delete until "not found", for
# OUR_SEC and PEER_SEC (bluetooth._BLE._delete_all).
#
# What computers hear on the air is in `heard`: (world time, the kit's address, advertising
# data, scan response) each time the kit starts advertising or its controller renews its RPA
# while it advertises. A pairing hands this computer the kit's identity address and IRK (SMP
# key distribution, nimble/host/src/ble_sm.c ble_sm_key_dist: the ID key is the stack's own
# IRK); `resolve` is how its stack recognises the kit under a new RPA.
import struct
import sys

import bluetooth
from micropython import const

# The bridge's opcodes this computer plays (the names and values of firmware/sim/bluetooth.py
# and the host's Opcode; tests/host/test_bridge_wire.py keeps them alike).
_OP_ACTIVE = const(0x41)
_OP_ADVERTISE = const(0x56)
_OP_CENTRAL_CONNECT = const(0x63)
_OP_CENTRAL_DISCONNECT = const(0x64)
_OP_CENTRAL_WRITE = const(0x77)
_OP_DISCONNECT = const(0x44)
_OP_ENCRYPTION_UPDATE = const(0x65)
_OP_GET_SECRET = const(0x67)
_OP_IRK = const(0x4B)
_OP_MTU_EXCHANGED = const(0x6D)
_OP_NOTIFY = const(0x4E)
_OP_OWN_ADDRESS = const(0x4F)
_OP_REGISTER = const(0x52)
_OP_SECRET_ANSWER = const(0x53)
_OP_SET_SECRET = const(0x73)

OUR_SEC = 1  # BLE_STORE_OBJ_TYPE_OUR_SEC
PEER_SEC = 2  # BLE_STORE_OBJ_TYPE_PEER_SEC
_LATENCY_US = 1250  # one connection event between the computer acting and the kit hearing


class Central(bluetooth._Bridge):
    def __init__(self, world, mac=b"\xc4\x01\x02\x03\x04\x05"):
        self.w = world
        self.mac = (1, bytes(mac))
        self.later = []
        self.sim = None
        self.adv = b""
        self.resp = b""
        self.advertising = False
        self.adverts = 0  # gap_advertise calls that started advertising
        self.addr = self.mac  # the kit's own address now: (addr_type, 6 bytes MSB first)
        self.irk = None  # the kit's IRK as its stack holds it
        self.heard = []  # (world time, address, adv, resp), as computers around hear them
        self.bonded = None  # (identity address, IRK) this computer got when it paired
        self.got = []  # (value handle, bytes) of every notification, in order
        self.peer = b"\x00\x11\x22\x33\x44\x55\x66"  # this computer's store key (ble_addr_t)
        self._answer = None
        self._next = 0x10
        self._conn = 0
        self._on_notify = []  # events to deliver during the kit's next gatts_notify
        self._held = []  # events waiting for the main program's next preemption point
        bluetooth.attach(self)

    # --- the computer's side ----------------------------------------------------------
    def connect(self, addr=None):
        # A computer connects (now + one connection event); returns the connection handle.
        self._conn += 1
        c = self._conn
        self.advertising = False  # a connection ends legacy advertising
        a = addr or self.peer
        self._later(_OP_CENTRAL_CONNECT, struct.pack("<HB", c, a[0]) + bytes(a[1:7]))
        return c

    def disconnect(self, conn, addr=None):
        a = addr or self.peer
        self._later(_OP_CENTRAL_DISCONNECT, struct.pack("<HB", conn, a[0]) + bytes(a[1:7]))

    def interval(self, us):
        # The connection interval this computer chose: how often NimBLE's buffers come back.
        bluetooth.BLE().event_us = us

    def mtu(self, conn, mtu):
        self._later(_OP_MTU_EXCHANGED, struct.pack("<HH", conn, mtu))

    def write(self, conn, handle, data, during_notify=False):
        # The computer writes a characteristic; during_notify: the kit hears it while its
        # main program is inside its next gatts_notify call (NimBLE's task preempting it).
        ev = (_OP_CENTRAL_WRITE, struct.pack("<HH", conn, handle) + bytes(data))
        if during_notify:  # or, if the kit sends nothing meanwhile, 50 ms on
            self._on_notify.append(ev)
            w = self.w
            w.call_at(w.now() + 50000, lambda t: self._overdue(ev))
        else:
            self._later(*ev)

    def _overdue(self, ev):
        if ev in self._on_notify:
            self._on_notify.remove(ev)
            self.deliver(*ev)

    def pair(self, conn, peer=None, forgot=False):
        # Pair now as NimBLE would on the kit; forgot: this computer lost its keys while the
        # kit kept the bond (repeat pairing). Returns True if the link ended encrypted.
        key = bytes(peer or self.peer)
        if forgot and self._get(PEER_SEC, 0, key) is not None:
            self._store_delete(OUR_SEC, key)
            self._store_delete(PEER_SEC, key)
        ours = bytes(b"\x4f" * 16) + key
        theirs = bytes(b"\x50" * 16) + key
        self._store_set(OUR_SEC, key, ours)
        self._store_set(PEER_SEC, key, theirs)
        self.bonded = (self.mac, self.irk)  # the kit's ID key and identity address
        self.deliver(_OP_ENCRYPTION_UPDATE, struct.pack("<HBBBB", conn, 1, 0, 1, 16))
        return True

    def resolve(self, addr):
        # The kit's identity address if this computer bonded with it and addr is one of its
        # RPAs, else None (a computer that never paired cannot tell).
        b = self.bonded
        if b is None or b[1] is None or not bluetooth.resolves(b[1], addr[1]):
            return None
        return b[0]

    def encrypt(self, conn, peer=None):
        # A bonded computer reconnects: the kit's stack looks up its keys (OUR_SEC).
        key = bytes(peer or self.peer)
        if self._get(OUR_SEC, 0, key) is None:
            return False
        self.deliver(_OP_ENCRYPTION_UPDATE, struct.pack("<HBBBB", conn, 1, 0, 1, 16))
        return True

    def _hear(self):
        self.heard.append((self.w.now(), self.addr, self.adv, self.resp))

    def responses(self, handle):
        return [d for h, d in self.got if h == handle]

    # --- delivery -----------------------------------------------------------------------
    def _later(self, typ, payload):
        w = self.w
        w.call_at(w.now() + _LATENCY_US, lambda t: self.deliver(typ, payload))

    def deliver(self, typ, payload):
        # NimBLE's task runs one event at a time: one that comes while the handler runs waits.
        ble = bluetooth._ble
        if ble is not None and ble.busy:
            w = self.w
            w.call_at(w.now() + 20, lambda t: self.deliver(typ, payload))
            return
        p = sys.modules.get("preempt")
        if p is not None and p.S.on:
            # Preemption at jumps (preempt.py): while the main program holds the GIL (in the
            # port's C code, a callback, a handler, or machine.disable_irq()) the event waits
            # for the jump after it (the end of the outermost section, or enable_irq); events
            # that wait keep their order.
            if p.holds_gil():
                self._held.append((typ, payload))
                p.S.due = True
                return
            if self._held:
                self.preempt()
        self.dispatch(typ, memoryview(payload))

    # --- the store, as NimBLE calls it --------------------------------------------------
    def _get(self, sec_type, index, key):
        self._answer = None
        p = bytes((0, sec_type, index, 0 if key is None else 1)) + (key or b"")
        self.dispatch(_OP_GET_SECRET, memoryview(p))
        a = self._answer
        return a[2] if a is not None and a[1] else None

    def _store_set(self, sec_type, key, value):
        self._answer = None
        p = bytes((0, sec_type, len(key))) + key + b"\x01" + value
        self.dispatch(_OP_SET_SECRET, memoryview(p))
        return bool(self._answer and self._answer[1])

    def _store_delete(self, sec_type, key):
        p = bytes((0, sec_type, len(key))) + key + b"\x00"
        self.dispatch(_OP_SET_SECRET, memoryview(p))

    # --- the kit's calls (bluetooth._Bridge's interface) --------------------------------
    def send(self, typ, fmt="<", *args):
        if typ == _OP_SECRET_ANSWER:  # a store answer: req, found/ok[, value]
            self._answer = args
        elif typ == _OP_ADVERTISE:  # advertise: interval, flags, adv length, adv + scan response
            iv, flags, n, data = args
            self.advertising = iv != 0
            if iv:
                self.adverts += 1
                if flags & 2:
                    self.adv = bytes(data[:n])
                if flags & 4:
                    self.resp = bytes(data[n:])
                self._hear()
        elif typ == _OP_OWN_ADDRESS:  # the kit's own address (set, or a new RPA)
            self.addr = (args[0], bytes(args[1]))
            if self.advertising:
                self._hear()
        elif typ == _OP_IRK:  # the IRK the kit's stack hands out when it pairs
            self.irk = bytes(args[0])
        elif typ == _OP_NOTIFY:  # notify/indicate: conn, handle, kind, data
            while self._on_notify:
                self.deliver(*self._on_notify.pop(0))
            self.got.append((args[1], bytes(args[3])))
        elif typ == _OP_DISCONNECT:  # the kit disconnects a computer
            self.disconnect(args[0])

    def request(self, typ, want, fmt="<", *args):
        if typ == _OP_ACTIVE:  # active
            return b"\x01"
        if typ == _OP_REGISTER:  # register services: value handles in definition order
            p = args[0]
            out = bytearray((p[0],))
            i = 1
            for _ in range(p[0]):
                i += 1 + p[i]
                n = p[i]
                i += 1
                hs = []
                for _ in range(n):
                    i += 1 + p[i]
                    nd = p[i + 2]
                    i += 3
                    self._next += 2
                    hs.append(self._next)
                    for _ in range(nd):
                        i += 1 + p[i] + 2
                        self._next += 1
                        hs.append(self._next)
                out.append(len(hs))
                out += struct.pack("<%dH" % len(hs), *hs)
            return bytes(out)
        raise OSError(5)

    def preempt(self):
        # Events come at their world times (world.call_at); with preemption at jumps, those
        # that came while the main program held the GIL are handed over at its next point.
        held = self._held
        if not held:
            return
        p = sys.modules["preempt"]
        if p.holds_gil():  # not at a point: a call into the stack (bluetooth._BLE._cost),
            p.S.due = True  # or inside machine.disable_irq(): at the end of that
            return
        self._held = []
        for typ, payload in held:
            self.deliver(typ, payload)

    async def pump(self):
        return
