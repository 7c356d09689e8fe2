# Wire protocol v1: constants, frame header and sample record packing.
# docs/protocol.md is the law; host/finemotor/protocol is the other implementation, and the
# golden vectors in tests/vectors/ keep both honest.
import struct
from micropython import const

PROTOCOL_VERSION = const(1)

# Frame types (low nibble of byte 0).
FRAME_LIVE = const(0)
FRAME_BACKFILL = const(1)

# Channel layouts: one id per device kind, each with a fixed record size in bytes.
LAYOUT_STYLUS = const(1)  # tip: int24 counts | barrel_a: uint12 | barrel_b: uint12
LAYOUT_GRIP = const(2)  # force: int24 counts
REC_STYLUS = const(6)
REC_GRIP = const(3)

# Frame flags (byte 9).
FLAG_SENSOR_FAULT = const(0x01)  # a channel could not be read during this frame
FLAG_RESUMED = const(0x02)  # first frame after sampling (re)started

HEADER_SIZE = const(10)
HEADER_FMT = "<BBHIBB"

TICK_MASK = const(0x3FFFFFFF)  # device ticks are microseconds modulo 2**30
SEQ_MASK = const(0xFFFF)  # sequence numbers are sample indices modulo 2**16

# The default ATT MTU; a notification carries at most MTU - 3 bytes.
ATT_MTU_DEFAULT = const(23)
ATT_MTU_MAX = const(247)


def record_size(layout):
    # Bytes per sample record of a layout.
    return REC_STYLUS if layout == LAYOUT_STYLUS else REC_GRIP


def pack_header(buf, ftype, layout, seq, tick, count, flags):
    # Write a frame header at the start of buf.
    struct.pack_into(
        HEADER_FMT,
        buf,
        0,
        (PROTOCOL_VERSION << 4) | ftype,
        layout,
        seq & SEQ_MASK,
        tick & TICK_MASK,
        count,
        flags,
    )


def put_i24(buf, off, value):
    # Store a signed 24-bit value little-endian; allocation-free.
    value &= 0xFFFFFF
    buf[off] = value & 0xFF
    buf[off + 1] = (value >> 8) & 0xFF
    buf[off + 2] = value >> 16


def put_u12x2(buf, off, a, b):
    # Store two 12-bit values in 3 bytes: a in bits 0-11, b in bits 12-23; allocation-free.
    buf[off] = a & 0xFF
    buf[off + 1] = ((a >> 8) & 0x0F) | ((b & 0x0F) << 4)
    buf[off + 2] = (b >> 4) & 0xFF


def get_i24(buf, off):
    # Read a signed 24-bit little-endian value.
    v = buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16)
    return v - 0x1000000 if v & 0x800000 else v
