# Sample ring buffer: the last tens of seconds of records, in wire format, with their ticks.
#
# Records are stored exactly as they travel (see wire.py), so a frame is a header plus a copy.
# Ticks cost 2 bytes a sample: the low 16 bits of (tick >> 3) per sample, and the full tick of
# every 16th slot (the anchor). A block of 16 samples must span < 0.5 s, which holds for every
# supported rate (>= 80 Hz); the sampler only pauses at block boundaries so a pause never
# falls inside a block. Nothing here allocates after __init__.
from array import array

from micropython import const

_BLOCK = const(16)
_BLOCK_SHIFT = const(4)
_LO_SHIFT = const(3)
_TICK_MASK = const(0x3FFFFFFF)
_COUNT_MASK = const(0x3FFFFFFF)


class Ring:
    def __init__(self, capacity, rec_size):
        capacity = (capacity + _BLOCK - 1) & ~(_BLOCK - 1)
        self.cap = capacity
        self.rec = rec_size
        self.data = bytearray(capacity * rec_size)
        self.lo = array("H", bytes(2 * capacity))  # a bytes initialiser is copied raw
        self.anchor = array("I", bytes(4 * (capacity >> _BLOCK_SHIFT)))
        self.pos = 0  # slot the next sample goes to
        self.count = 0  # samples ever written, modulo 2**30 (the next sample's index)

    def reset(self):
        self.pos = 0
        self.count = 0

    def offset(self):
        # Byte offset in data where the next record is to be written.
        return self.pos * self.rec

    def commit(self, tick):
        # Close the record just written at offset(), taken at device tick `tick`.
        p = self.pos
        self.lo[p] = (tick >> _LO_SHIFT) & 0xFFFF
        if not p & (_BLOCK - 1):
            self.anchor[p >> _BLOCK_SHIFT] = tick
        p += 1
        if p == self.cap:
            p = 0
        self.pos = p
        self.count = (self.count + 1) & _COUNT_MASK

    def at_block_start(self):
        return not self.pos & (_BLOCK - 1)

    def held(self):
        # How many of the most recent samples are still readable.
        # One block is kept in reserve: the sampler may be writing into it right now.
        c = self.count
        keep = self.cap - _BLOCK
        return c if c < keep else keep

    def age(self, index):
        # How many samples ago `index` was written (0 = the newest), modulo 2**30.
        return (self.count - 1 - index) & _COUNT_MASK

    def slot(self, index):
        # Slot of sample `index`; the caller checks age(index) < held().
        s = self.pos - 1 - self.age(index)
        if s < 0:
            s += self.cap
        return s

    def tick(self, slot):
        # Device tick of the sample in `slot` (8 us resolution).
        a = slot & ~(_BLOCK - 1)
        t0 = self.anchor[a >> _BLOCK_SHIFT]
        d = (self.lo[slot] - self.lo[a]) & 0xFFFF
        return ((t0 >> _LO_SHIFT << _LO_SHIFT) + (d << _LO_SHIFT)) & _TICK_MASK
