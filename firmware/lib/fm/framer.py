# Frames from the ring: live frames as samples arrive, backfill frames on the host's request.
#
# A live frame is cut when a batch (~20 ms of samples) is ready, or when the oldest unsent
# sample has waited 20 ms; it holds as many samples as the MTU allows, so a backlog (after a
# link drop) drains at full frame size. Samples are marked sent only once the notification is
# accepted (commit_live), so nothing is skipped when the link is down. Samples the ring
# overwrote before they could be sent are counted in `overwritten`, never hidden.
from micropython import const

from fm.wire import FRAME_BACKFILL, FRAME_LIVE, HEADER_SIZE, SEQ_MASK, pack_header

_COUNT_MASK = const(0x3FFFFFFF)
_TICK_MASK = const(0x3FFFFFFF)
_WAIT_US = const(20000)


class Framer:
    def __init__(self, ring, layout, max_payload):
        self.ring = ring
        self.layout = layout
        self.rec = ring.rec
        kmax = (max_payload - HEADER_SIZE) // self.rec
        self._kmax = kmax
        self._buf = bytearray(HEADER_SIZE + kmax * self.rec)
        self._mv = memoryview(self._buf)
        self._data = memoryview(ring.data)
        self._views = tuple(self._mv[: HEADER_SIZE + k * self.rec] for k in range(kmax + 1))
        self._k = 1
        self.batch = 1
        self.sent = 0  # index of the next sample to send live
        self.overwritten = 0  # samples lost on the device: overwritten before being sent
        self.flags = 0  # sticky flags for the next live frame (e.g. FLAG_RESUMED)
        self._bf_next = 0
        self._bf_left = 0
        self.set_mtu(23)

    def set_mtu(self, mtu):
        # Size frames for an ATT MTU (a notification carries MTU - 3 bytes).
        k = (mtu - 3 - HEADER_SIZE) // self.rec
        self._k = 1 if k < 1 else (self._kmax if k > self._kmax else k)
        return self._k

    def sync(self):
        # Forget what is queued: the next live frame starts at the newest sample.
        self.sent = self.ring.count
        self._bf_left = 0

    def pending(self):
        # Unsent samples that are still in the ring (counting those overwritten first).
        ring = self.ring
        n = (ring.count - self.sent) & _COUNT_MASK
        held = ring.held()
        if n > held:
            self.overwritten += n - held
            self.sent = (ring.count - held) & _COUNT_MASK
            n = held
        return n

    def live(self, now):
        # The next live frame (a memoryview into a reused buffer) or None if none is due.
        n = self.pending()
        if n == 0:
            return None
        if n < self.batch and n < self._k:
            ring = self.ring
            waited = (now - ring.tick(ring.slot(self.sent))) & _TICK_MASK
            if waited < _WAIT_US:
                return None
        if n > self._k:
            n = self._k
        return self._build(self.sent, n, FRAME_LIVE, self.flags)

    def commit_live(self, frame):
        # The frame was accepted by the radio: advance past its samples.
        self.sent = (self.sent + frame[8]) & _COUNT_MASK
        self.flags = 0

    def request_backfill(self, seq, count):
        # Queue a resend of `count` samples from wire sequence `seq`.
        # Returns (first_seq, count_queued, count_gone): samples older than the ring are gone.
        ring = self.ring
        back = (ring.count - seq) & SEQ_MASK  # samples from seq to the next index
        if back == 0 or count <= 0:
            return seq, 0, 0
        start = (ring.count - back) & _COUNT_MASK
        if count > back:
            count = back
        held = ring.held()
        gone = 0
        if back > held:
            gone = back - held
            if gone > count:
                gone = count
            start = (start + gone) & _COUNT_MASK
            count -= gone
        self._bf_next = start
        self._bf_left = count
        return start & SEQ_MASK, count, gone

    def backfill(self):
        # The next backfill frame, or None; commit_backfill once the radio took it (a frame
        # NimBLE had no buffer for is built again next time).
        n = self._bf_left
        if n == 0:
            return None
        ring = self.ring
        age = ring.age(self._bf_next)
        if age >= ring.held():  # overwritten while queued
            self._bf_left = 0
            return None
        if n > self._k:
            n = self._k
        if n > age + 1:
            n = age + 1
        return self._build(self._bf_next, n, FRAME_BACKFILL, 0)

    def commit_backfill(self, frame):
        # The backfill frame was accepted by the radio: advance past its samples.
        n = frame[8]
        self._bf_next = (self._bf_next + n) & _COUNT_MASK
        self._bf_left -= n

    def _build(self, index, n, ftype, flags):
        ring = self.ring
        rec = self.rec
        s = ring.slot(index)
        pack_header(self._buf, ftype, self.layout, index, ring.tick(s), n, flags)
        first = ring.cap - s
        if first > n:
            first = n
        a = s * rec
        dst = HEADER_SIZE + first * rec
        self._mv[HEADER_SIZE:dst] = self._data[a : a + first * rec]
        if first < n:
            rest = (n - first) * rec
            self._mv[dst : dst + rest] = self._data[0:rest]
        return self._views[n]
