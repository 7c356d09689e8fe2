# The kit: wires sampler, ring, framer, control point and GATT server into one device.
import asyncio
import sys
import time

import machine
from micropython import const

from fm import linkselect
from fm import status as st
from fm.calstore import CalStore
from fm.control import Control
from fm.framer import Framer
from fm.gatt import Gatt
from fm.ring import Ring
from fm.sampler import Sampler
from fm.wire import ATT_MTU_MAX, TICK_MASK

FIRMWARE_VERSION = "1.0.0"
_RING_SECONDS = const(32)
_PAIRING_WINDOW_MS = const(60000)
_LONG_PRESS_MS = const(5000)
_FRAMES_PER_WAKE = const(4)
_STATUS_MS = const(1000)
_LOW_PCT = const(15)
_CRITICAL_PCT = const(5)
_REQS = const(8)  # control requests the handler can post before the task takes them
_REQ_MAX = const(244)  # the control point's buffer


def kit_id():
    # The short kit id printed on the label: kit_id.txt if set at flashing, else from the chip id.
    try:
        with open("kit_id.txt") as f:
            s = f.read().strip().upper()
        if len(s) == 6:
            int(s, 16)
            return s
    except (OSError, ValueError):
        pass
    return "".join("%02X" % b for b in machine.unique_id()[-3:])


class Kit:
    def __init__(self, device, led, button, battery, hardware="A", link=None):
        # device: a fm.devices.Device (channels, trigger, rates, kind, model)
        # link: makes the kit's link, called like Gatt (fm.seriallink.SerialLink for the USB
        # cable); None: fm.linkselect.factory, else Bluetooth LE (Gatt). Kept as self.link.
        self.device = device
        self.kind = device.kind
        self.led = led
        self.button = button
        self.battery = battery
        self.channels = device.channels
        self.ring = Ring(device.max_rate * _RING_SECONDS, device.channels.rec)
        self.flag = asyncio.ThreadSafeFlag()
        self.sampler = Sampler(self.ring, device.channels, self.flag, device.use_timer)
        self.sampler.configure(device.default_rate)
        self.framer = Framer(self.ring, device.channels.layout, ATT_MTU_MAX - 3)
        self.framer.batch = self.sampler.batch
        self.cal = CalStore("cal.bin", len(device.channels.names))
        self.control = Control(self)
        self.kit_id = kit_id()
        serial = "".join("%02x" % b for b in machine.unique_id())
        self.link = (link or linkselect.factory or Gatt)(
            self, self.kind, self.kit_id, device.model, serial, FIRMWARE_VERSION, hardware
        )
        self._status = bytearray(st.STATUS_SIZE)
        self._identify = 0
        self.armed = False  # START received on the current connection
        self.health = st.HEALTH_ADC if device.fault else 0
        self._faults_seen = 0
        self.battery_pct = 100
        self.battery_mv = 0
        # Posted by the Bluetooth handler, applied by _stream (the one owner of framer and
        # sampler state): control requests in a ring of preallocated slots, each with the
        # connection it came on, and the link's MTU. A response NimBLE had no buffer for
        # waits in _resp. The handler preempts _stream at any bytecode jump, so nothing here
        # is read and then cleared.
        self._req = [bytearray(_REQ_MAX) for _ in range(_REQS)]
        self._req_len = bytearray(_REQS)
        self._req_enc = bytearray(_REQS)
        self._req_conn = bytearray(_REQS)
        self._req_in = 0
        self._req_out = 0
        self.requests_dropped = 0
        self._resp = None
        self._resp_conn = 0
        self._mtu = 23
        self._mtu_n = 0  # bumped by the handler with each new MTU (no read-and-clear race)
        self._mtu_seen = 0
        self._conn_n = 0  # bumped by the handler on each connection (modulo 256)

    # --- used by the control point ------------------------------------------------------
    def now(self):
        return time.ticks_us() & TICK_MASK  # type: ignore[operator]  # stubs keep ticks opaque

    def next_seq(self):
        return self.ring.count & 0xFFFF

    def start(self):
        # False if the force sensor is faulty (or stops answering now): ERR_SENSOR.
        if self.health:
            return False
        if not self.sampler.running:
            self.framer.sync()
            self.framer.flags = 2  # FLAG_RESUMED
        self.armed = True
        if self.sampler.start() and not self.framer.flags & 2:
            # A STOP's last block ended just now, before the sampler took this START: it
            # started afresh after all.
            self.framer.sync()
            self.framer.flags = 2
        if not self.device.use_timer:
            try:
                if self.channels.adc.ready():
                    # A result left unread since boot or the last STOP holds the data-ready
                    # line asserted (NAU7802, HX711): no falling edge would come. Release it.
                    self.channels.adc.read()
            except OSError:  # the sensor stopped answering
                self.sampler.stop()
                self.health |= st.HEALTH_ADC
                return False
        return True

    def stop(self):
        self.sampler.stop()

    def set_rate(self, hz):
        # The rate actually set, 0 if out of range, -1 if streaming (stop first).
        d = self.device
        if hz < d.min_rate or hz > d.max_rate:
            return 0
        if self.sampler.running:
            return -1
        rate = self.sampler.configure(hz)
        self.framer.batch = self.sampler.batch
        return rate

    def tare(self, n):
        # Mean raw counts of the last n samples per channel, or None if not enough samples.
        ring = self.ring
        if n < 1 or n > ring.held() or ring.count < n:
            return None
        acc = [0] * len(self.channels.names)
        for k in range(n):
            s = ring.slot((ring.count - 1 - k) & 0x3FFFFFFF)
            self.channels.add_values(ring.data, s * ring.rec, acc)
        return [(a + n // 2) // n for a in acc]

    def identify(self, seconds):
        self._identify = seconds

    def backfill(self, seq, count):
        return self.framer.request_backfill(seq, count)

    def info(self):
        return (self.channels.layout, self.sampler.rate, self.ring.held(), len(self.channels.names))

    # --- GATT events -------------------------------------------------------------------
    def on_connect(self):
        # Data flows on a connection only after its START: the central subscribes first, so
        # no frame is sent into a link that would drop it. (Runs in the handler: posts only.)
        self.armed = False
        self._mtu = 23
        self._mtu_n += 1
        self._conn_n = (self._conn_n + 1) & 0xFF
        self.flag.set()

    def on_disconnect(self):
        self.armed = False
        self.link.advertise(self.battery_pct)

    def on_mtu(self, mtu):
        self._mtu = mtu
        self._mtu_n += 1
        self.flag.set()

    def post_control(self, data, encrypted):
        # In the handler: copy a control request into a free slot for _stream.
        i = self._req_in
        if ((i - self._req_out) & 0xFF) >= _REQS or len(data) > _REQ_MAX:
            self.requests_dropped += 1
            return
        k = i % _REQS
        n = len(data)
        self._req[k][:n] = data
        self._req_len[k] = n
        self._req_enc[k] = 1 if encrypted else 0
        self._req_conn[k] = self._conn_n
        self._req_in = (i + 1) & 0xFF
        self.flag.set()

    def _apply_posted(self):
        # In _stream: take in what the handler posted. A request or a response of an earlier
        # connection is dropped; one of the current connection never is, even if the handler
        # posted it before this task saw that connection begin (it was busy: a flash write).
        if self._mtu_n != self._mtu_seen:
            self._mtu_seen = self._mtu_n
            m = self._mtu
            self.framer.set_mtu(m)
            self.control.max_payload = m - 3
        link = self.link
        while True:
            r = self._resp
            if r is not None:
                if link.conn is None or self._resp_conn != self._conn_n:
                    self._resp = None
                elif not link.notify(link.h_control, r):
                    return  # no buffer now (ENOMEM): the same response, next time
                self._resp = None
            o = self._req_out
            if o == self._req_in:
                return
            k = o % _REQS
            if self._req_conn[k] == self._conn_n:
                req = memoryview(self._req[k])[: self._req_len[k]]
                self._resp_conn = self._req_conn[k]
                try:
                    self._resp = self.control.handle(req, self._req_enc[k] == 1)
                except Exception as e:  # a request never takes the stream task down
                    sys.print_exception(e)
                    self._resp = self.control.error(req)
            self._req_out = (o + 1) & 0xFF

    # --- tasks -------------------------------------------------------------------------
    async def run(self):
        self._read_battery()
        self.link.advertise(self.battery_pct)
        await asyncio.gather(self._stream(), self._status_loop(), self._button_loop())

    async def _stream(self):
        framer = self.framer
        link = self.link
        while True:
            try:
                await asyncio.wait_for_ms(self.flag.wait(), 10)
            except asyncio.TimeoutError:
                pass
            self._apply_posted()
            link.save_bonds()
            now = self.now()
            self.sampler.kick(now)  # data-ready gone quiet mid-stream: read by hand
            if link.conn is None or not link.encrypted or not self.armed:
                continue
            for _ in range(_FRAMES_PER_WAKE):
                f = framer.live(now)
                if f is None or not link.notify(link.h_data, f):
                    break
                framer.commit_live(f)
            f = framer.backfill()
            if f is not None and link.notify(link.h_data, f):
                framer.commit_backfill(f)

    def _read_battery(self):
        self.battery_mv = self.battery.millivolts()
        self.battery_pct = self.battery.percent()

    async def _status_loop(self):
        while True:
            self._read_battery()
            flags = 0
            if self.battery_pct < _LOW_PCT:
                flags |= st.FLAG_LOW_BATTERY
            if self.battery_pct < _CRITICAL_PCT:
                flags |= st.FLAG_CRITICAL_BATTERY
            if self.link.pairing_open:
                flags |= st.FLAG_PAIRING_OPEN
            if self.cal.calibrated():
                flags |= st.FLAG_CALIBRATED
            if self.sampler.faults > self._faults_seen:  # reads failing: the sensor went away
                self._faults_seen = self.sampler.faults
                self.health |= st.HEALTH_ADC
            state = st.STATE_STREAMING if self.sampler.running else st.STATE_IDLE
            if self.health:
                state = st.STATE_FAULT
            st.pack_status(
                self._status,
                state,
                self.battery_pct,
                self.battery_mv,
                self.health,
                flags,
                self.sampler.rate,
                self.sampler.missed,
                self.framer.overwritten,
                self.ring.count,
                self.sampler.faults,
            )
            self.link.set_value(self.link.h_status, self._status, notify=True)
            self.link.set_value(self.link.h_battery, bytes((self.battery_pct,)), notify=True)
            if self._identify:
                await self.led.blink(self._identify * 2, 250, 250)
                self._identify = 0
            else:
                await asyncio.sleep_ms(_STATUS_MS)

    async def _button_loop(self):
        while True:
            ms = await self.button.wait_press(10000)
            if not ms:
                continue
            if ms >= _LONG_PRESS_MS:
                self.link.clear_bonds()
                await self.led.blink(6, 80, 80)
                continue
            await self._pairing_window()

    async def _pairing_window(self):
        # Open: the kit advertises its id (link.advertise) until a computer pairs or a minute
        # passes, even if that computer has left again by the next blink.
        link = self.link
        link.paired = False
        link.pairing_open = True
        if link.conn is None:
            link.advertise(self.battery_pct)
        t0 = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), t0) < _PAIRING_WINDOW_MS:
            await self.led.blink(1, 100, 400)
            if link.encrypted or link.paired:
                break
        link.pairing_open = False
        if link.conn is None:
            link.advertise(self.battery_pct)
