# The kit's serial link: the same sample frames, control point and status as over BLE, carried
# over a byte stream (on the ESP32-S3, the USB CDC console) in COBS packets sealed by a CRC
# (docs/protocol.md, "Serial link"). A Kit uses it in place of fm.gatt.Gatt, as its `link`: it
# has the surface the Kit uses (conn, encrypted, h_*, notify, set_value, advertise,
# pairing_open, paired, clear_bonds, save_bonds).
#
# Packet: COBS(tag | payload | crc16 LE) | 0x00. Kit -> host: 0x01 data frame, 0x02 control
# response, 0x03 status value, 0x04 kit information (the answer to HELLO). Host -> kit: 0x81
# control request, 0x82 HELLO (attach, then keep-alive), 0x83 BYE (detach), 0x84 REPL (hand the
# console back and stop the firmware).
#
# The console. Until a host's first HELLO the console is the ordinary one: the firmware's
# prints go there and Ctrl-C stops it. HELLO attaches the host: Ctrl-C is switched off
# (micropython.kbd_intr(-1)) so 0x03 bytes inside packets cannot interrupt, and it stays off
# until the console is handed back, by
#   - a BYE (the host closed the link in order),
#   - a REPL packet: the firmware stops with KeyboardInterrupt and the REPL prompt appears,
#   - a long press of the button (5 s or more: clear_bonds), until a host says HELLO again.
# A host that falls silent for 3 s is detached (as a BLE link's supervision timeout), but
# Ctrl-C stays off: a host coming back must not stop the kit with a 0x03 in a request.
# Resetting the kit gives the ordinary console back too.
#
# A serial link is trusted as encrypted while a host is attached: the cable is physical access.
import struct
import sys

import asyncio
import micropython
import select
import time
from micropython import const

from fm import cobs, uuids

_TAG_DATA = const(0x01)
_TAG_CONTROL = const(0x02)
_TAG_STATUS = const(0x03)
_TAG_INFO = const(0x04)
_TAG_REQUEST = const(0x81)
_TAG_HELLO = const(0x82)
_TAG_BYE = const(0x83)
_TAG_REPL = const(0x84)

_LINK_VERSION = const(1)
_HELLO_LEN = const(7)  # "FM1" + u32 session
_CONN = const(1)  # the connection handle while a host is attached
_MTU = const(247)  # frames and responses as at the largest ATT MTU: 244-byte payloads
_PAYLOAD_MAX = const(244)
_RAW_MAX = const(247)  # tag + payload + CRC
_ENC_MAX = const(249)  # COBS of _RAW_MAX bytes (one more), plus the 0x00
_RX_BUF = const(256)  # an encoded packet from the host (longer: dropped as bad)
_TX_BUF = const(2048)  # packets waiting for the stream (a slow host: notify says no)
_RX_BURST = const(512)  # bytes taken from the stream per wake, at most
_IDLE_MS = const(5)
_SILENT_MS = const(3000)
_STATUS_MAX = const(20)
_CTRL_C = const(3)

_POLLIN = const(0x0001)
_POLLERR = const(0x0008)
_POLLHUP = const(0x0010)


def _stdin():
    return sys.stdin.buffer


def _stdout():
    return sys.stdout.buffer


class SerialLink:
    # rx, tx: the byte streams (default: the console, sys.stdin.buffer / sys.stdout.buffer).
    # They need MicroPython's readinto(buf, n) and write(buf, off, n); tx.write may take fewer
    # bytes than offered (a non-blocking stream), the rest waits in the link's buffer.
    # console: True if the streams are the REPL console (Ctrl-C is switched off while a host
    # is attached); default: True when rx is the console.
    # chunk: bytes read at a time once the stream polls readable (1 on the console, whose
    # readinto blocks until it has them all; more on a non-blocking stream).
    def __init__(
        self,
        kit,
        kind,
        kit_id,
        model,
        serial,
        firmware,
        hardware,
        rx=None,
        tx=None,
        console=None,
        chunk=1,
    ):
        self.kit = kit
        self.kind = kind
        self.kit_id = kit_id
        self.conn = None
        self.encrypted = False
        self.mtu = _MTU
        self.pairing_open = False
        self.paired = False  # (a Bluetooth pairing's; the cable needs none)
        self.battery_pct = 100
        self.h_data = 1
        self.h_control = 2
        self.h_status = 3
        self.h_battery = 4
        self.packets = 0  # valid packets from hosts
        self.bad = 0  # packets dropped: not COBS, bad CRC, too long, unknown HELLO
        self.errors = 0  # exceptions while serving the link (a bug: the link goes on)
        if console is None:
            console = rx is None
        self._rx = rx if rx is not None else _stdin()
        self._tx = tx if tx is not None else _stdout()
        self._console = console
        self._captured = False  # Ctrl-C switched off
        self.kbd_intr = micropython.kbd_intr  # replaceable (tests)
        self._poll = select.poll()
        self._poll.register(self._rx, _POLLIN)
        self._chunk = bytearray(chunk)
        self._in = bytearray(_RX_BUF)
        self._n = 0
        self._skip = False  # an over-long packet: drop up to the next 0x00
        self._raw = bytearray(_RAW_MAX)
        self._out = bytearray(_TX_BUF)
        self._t0 = 0  # pending bytes are _out[_t0:_t1]
        self._t1 = 0
        self._status = bytearray(_STATUS_MAX)
        self._status_len = 0
        self._session = -1
        self._last_rx = time.ticks_ms()
        self._task = None
        head = struct.pack("<BBB", _LINK_VERSION, 0, uuids.KIND_CODES.get(kind, 0))
        text = "\0".join((model, serial, firmware, hardware)).encode()
        self._info = bytearray(head + bytes.fromhex(kit_id) + text)[:_PAYLOAD_MAX]

    # --- the surface the Kit uses ---------------------------------------------------------
    def advertise(self, battery_pct):
        # Be there for a host: start listening (once). The Kit calls this from its run().
        self.battery_pct = battery_pct
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    def stop_advertising(self):
        pass

    def notify(self, handle, data):
        # Send a value to the attached host; False if there is none or no room (try again).
        if self.conn is None:
            return False
        if handle == self.h_data:
            return self._send(_TAG_DATA, data, len(data))
        if handle == self.h_control:
            return self._send(_TAG_CONTROL, data, len(data))
        if handle == self.h_status:
            return self._send(_TAG_STATUS, data, len(data))
        return True  # the battery level travels in the status value

    def set_value(self, handle, data, notify=False):
        if handle == self.h_status:
            n = len(data)
            if n > _STATUS_MAX:
                n = _STATUS_MAX
            for i in range(n):
                self._status[i] = data[i]
            self._status_len = n
        elif handle == self.h_battery and len(data):
            self.battery_pct = data[0]
        if notify and self.conn is not None and self.encrypted:
            self.notify(handle, data)

    def save_bonds(self):
        pass  # a serial link keeps no bonds

    def clear_bonds(self):
        # The long press: a serial link keeps no bonds; it hands the console back.
        self._drop()
        self._release_console()

    # --- the task -------------------------------------------------------------------------
    async def _run(self):
        while True:
            try:
                self.service()
            except Exception:  # one bad request must not end the link (Ctrl-C/REPL pass)
                self.errors += 1
                self._n = 0
            await asyncio.sleep_ms(_IDLE_MS)

    def service(self):
        # Take what the host sent, send what waits, detach a silent host.
        self._read()
        self._flush()
        if self.conn is not None:
            if time.ticks_diff(time.ticks_ms(), self._last_rx) > _SILENT_MS:
                self._drop()

    def _read(self):
        budget = _RX_BURST
        chunk = self._chunk
        while budget > 0:
            ev = 0
            for _obj, e in self._poll.ipoll(0):
                ev = e
            if not ev:
                return
            if not ev & _POLLIN:  # bytes still waiting are read first, even after a hang-up
                if ev & (_POLLHUP | _POLLERR):
                    self._drop()  # the far end is gone (a closed pseudo-terminal)
                return
            try:
                n = self._rx.readinto(chunk, len(chunk))
            except OSError:
                self._drop()
                return
            if not n:
                return
            for i in range(n):
                self._byte(chunk[i])
            budget -= n

    def _byte(self, b):
        if b == 0:
            if self._skip:
                self.bad += 1
            elif self._n:
                self._packet(self._n)
            self._n = 0
            self._skip = False
        elif not self._skip:
            if self._n == _RX_BUF:
                self._skip = True
            else:
                self._in[self._n] = b
                self._n += 1

    def _packet(self, n):
        p = self._in
        m = cobs.decode(p, n, p)
        if m < 3 or cobs.crc16(p, 0, m - 2) != p[m - 2] | (p[m - 1] << 8):
            self.bad += 1
            return
        tag = p[0]
        size = m - 3
        if tag == _TAG_HELLO:
            self._hello(size)
            return
        if tag == _TAG_REPL:  # honoured attached or not: Ctrl-C may still be off
            self.packets += 1
            self._drop()
            self._release_console()
            raise KeyboardInterrupt  # ends the firmware's loop: the REPL takes the console
        if self.conn is None:
            return  # nothing else while no host is attached
        self.packets += 1
        self._last_rx = time.ticks_ms()
        if tag == _TAG_REQUEST:
            resp = self.kit.control.handle(bytes(memoryview(p)[1 : 1 + size]), True)
            self._send(_TAG_CONTROL, resp, len(resp))
        elif tag == _TAG_BYE:
            self._drop()
            self._release_console()
        # other tags: from a newer host; ignored

    def _hello(self, size):
        p = self._in
        if size != _HELLO_LEN or p[1] != 0x46 or p[2] != 0x4D or p[3] != 0x31:  # "FM1"
            self.bad += 1
            return
        self.packets += 1
        session = p[4] | (p[5] << 8) | (p[6] << 16) | (p[7] << 24)
        self._last_rx = time.ticks_ms()
        new = self.conn is None or session != self._session
        if new:
            self._drop()
            self._attach(session)
        self._info[1] = 1 if new else 0
        self._send(_TAG_INFO, self._info, len(self._info))
        if new and self._status_len:
            self._send(_TAG_STATUS, self._status, self._status_len)

    def _attach(self, session):
        self._session = session
        self._capture_console()
        self._t0 = 0
        self._out[0] = 0  # ends whatever the host's decoder holds from before
        self._t1 = 1
        self.conn = _CONN
        self.encrypted = True
        self.kit.on_connect()
        self.kit.on_mtu(_MTU)

    def _drop(self):
        if self.conn is None:
            return
        self.conn = None
        self.encrypted = False
        self._t0 = self._t1 = 0
        self.kit.on_disconnect()

    def _capture_console(self):
        if self._console and not self._captured:
            self.kbd_intr(-1)
            self._captured = True

    def _release_console(self):
        if self._console and self._captured:
            self.kbd_intr(_CTRL_C)
            self._captured = False

    # --- sending --------------------------------------------------------------------------
    def _send(self, tag, data, n):
        # One packet into the send buffer, then as much of the buffer as the stream takes.
        if n > _PAYLOAD_MAX:
            return False
        out = self._out
        if self._t1 + _ENC_MAX > _TX_BUF:
            self._compact()
            if self._t1 + _ENC_MAX > _TX_BUF:
                self._flush()
                return False
        raw = self._raw
        raw[0] = tag
        for i in range(n):
            raw[i + 1] = data[i]
        crc = cobs.crc16(raw, 0, n + 1)
        raw[n + 1] = crc & 0xFF
        raw[n + 2] = crc >> 8
        k = cobs.encode(raw, n + 3, out, self._t1)
        out[self._t1 + k] = 0
        self._t1 += k + 1
        self._flush()
        return True

    def _compact(self):
        t0 = self._t0
        if t0 == 0:
            return
        out = self._out
        for i in range(self._t1 - t0):
            out[i] = out[t0 + i]
        self._t1 -= t0
        self._t0 = 0

    def _flush(self):
        while self._t0 < self._t1:
            try:
                w = self._tx.write(self._out, self._t0, self._t1 - self._t0)
            except OSError:
                w = None  # EAGAIN (a non-blocking stream, full) or the far end gone
            if not w:
                return
            self._t0 += w
        self._t0 = self._t1 = 0
