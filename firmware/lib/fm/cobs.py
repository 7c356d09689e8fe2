# COBS (Consistent Overhead Byte Stuffing) into and out of preallocated buffers, and the
# CRC-16/CCITT-FALSE that seals each serial-link packet (docs/protocol.md, "Serial link").
#
# COBS turns a packet into bytes with no 0x00 in them, so 0x00 can end every packet on the wire
# and a receiver that lost its place finds the next packet at the next 0x00. The encoding is
# byte for byte the one of the host's `cobs` package (PyPI), which tests/vectors checks.
# Nothing here allocates: callers pass the buffers and lengths.
from array import array

from micropython import const

_FULL = const(0xFF)  # code of a block of 254 non-zero bytes (no zero follows it)
_POLY = const(0x1021)


def max_encoded(n):
    # Longest COBS encoding of n bytes (without the 0x00 delimiter).
    return n + n // 254 + 1


def encode(src, n, dst, off):
    # COBS-encode src[0:n] into dst from dst[off]; return the number of bytes written (no
    # delimiter). dst must hold max_encoded(n) bytes from off, and must not overlap src.
    code_at = off
    o = off + 1
    code = 1
    for i in range(n):
        b = src[i]
        if b:
            dst[o] = b
            o += 1
            code += 1
            if code != _FULL:
                continue
            if i == n - 1:  # a full block ends the input: no final code, as the reference
                dst[code_at] = code
                return o - off
        dst[code_at] = code
        code_at = o
        o += 1
        code = 1
    dst[code_at] = code
    return o - off


def decode(src, n, dst):
    # COBS-decode src[0:n] (one packet, without its 0x00) into dst; return the decoded length,
    # or -1 if src is not a valid encoding (a 0x00 inside, or a block running past the end).
    # dst may be src itself (decoding in place); it must hold n bytes.
    i = 0
    o = 0
    while i < n:
        code = src[i]
        if code == 0:
            return -1
        i += 1
        end = i + code - 1
        if end > n:
            return -1
        while i < end:
            b = src[i]
            if b == 0:
                return -1
            dst[o] = b
            o += 1
            i += 1
        if code != _FULL and i < n:
            dst[o] = 0
            o += 1
    return o


def _crc_table():
    t = array("H", bytes(512))
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ _POLY) if c & 0x8000 else (c << 1)
        t[i] = c & 0xFFFF
    return t


_TABLE = _crc_table()


def crc16(buf, off, n):
    # CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor) of
    # buf[off:off + n]; "123456789" gives 0x29B1.
    t = _TABLE
    crc = 0xFFFF
    for i in range(off, off + n):
        crc = ((crc << 8) & 0xFFFF) ^ t[((crc >> 8) ^ buf[i]) & 0xFF]
    return crc
