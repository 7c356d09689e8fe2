"""Lossless compression of recorded samples for the server's long-term store.

A *segment* holds many consecutive blocks of one device (up to :data:`SEGMENT_SAMPLES`). Its
device times are almost always whole microseconds (they come from the kit's tick counter), so
they are stored as microsecond ticks; the ticks and each channel's counts are delta-coded,
byte-shuffled (all first bytes, then all second bytes...: the high bytes of small deltas are
runs of 0x00 and 0xFF) and deflated. Times that are not whole microseconds are kept as the
float64 values themselves, shuffled. Decoding gives back exactly the arrays that were encoded,
bit for bit; the block index (first sequence number and sample count of every block) is
stored beside, so each block's digest can be computed again and the desk's digests checked
after compaction.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import numpy.typing as npt

SEGMENT_SAMPLES = 65536
"""At most this many samples per segment (about 3.4 minutes of the grip at 320 Hz)."""
LEVEL = 6

_HEADER = struct.Struct("<BII")  # time mode, samples, channels
_TICKS, _FLOATS = 1, 2


def _shuffle(a: npt.NDArray[np.generic]) -> bytes:
    return a.view(np.uint8).reshape(-1, a.dtype.itemsize).T.tobytes()


def _unshuffle(raw: bytes, dtype: str, n: int) -> npt.NDArray[np.generic]:
    size = np.dtype(dtype).itemsize
    planes = np.frombuffer(raw, dtype=np.uint8, count=n * size).reshape(size, n)
    return np.ascontiguousarray(planes.T).view(dtype).reshape(n)


def encode_samples(t: npt.NDArray[np.float64], counts: npt.NDArray[np.int32]) -> bytes:
    """Compress ``t`` (device seconds, float64) and ``counts`` ((n, channels), int32)."""
    n, ch = counts.shape
    t = np.ascontiguousarray(t, dtype="<f8")
    mode, times = _FLOATS, _shuffle(t)
    if np.isfinite(t).all() and (np.abs(t) < 2.0**52 / 1e6).all():
        ticks = np.round(t * 1e6).astype("<i8")
        if (ticks / 1e6).astype("<f8").tobytes() == t.tobytes():  # bit for bit: -0.0 is not 0
            mode, times = _TICKS, _shuffle(np.diff(ticks, prepend=np.int64(0)).astype("<i8"))
    wide = counts.astype("<i8")
    deltas = np.diff(wide, axis=0, prepend=np.zeros((1, ch), dtype="<i8"))
    body = times + b"".join(_shuffle(np.ascontiguousarray(deltas[:, i])) for i in range(ch))
    return _HEADER.pack(mode, n, ch) + zlib.compress(body, LEVEL)


def decode_samples(data: bytes) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]:
    """The ``(t, counts)`` that :func:`encode_samples` was given."""
    mode, n, ch = _HEADER.unpack_from(data, 0)
    body = zlib.decompress(data[_HEADER.size :])
    if mode == _TICKS:
        ticks = np.cumsum(_unshuffle(body[: 8 * n], "<i8", n).astype(np.int64))
        t = ticks / 1e6
    else:
        t = _unshuffle(body[: 8 * n], "<f8", n).astype(np.float64)
    counts = np.empty((n, ch), dtype=np.int32)
    for i in range(ch):
        part = body[8 * n * (i + 1) : 8 * n * (i + 2)]
        counts[:, i] = np.cumsum(_unshuffle(part, "<i8", n).astype(np.int64)).astype(np.int32)
    return t.astype(np.float64), counts


def encode_index(seq0: list[int], n: list[int]) -> bytes:
    """The block index of a segment: each block's first sequence number and sample count
    (its digest follows from its samples, so it is not stored again)."""
    raw = np.asarray(seq0, dtype="<i8").tobytes() + np.asarray(n, dtype="<i4").tobytes()
    return struct.pack("<I", len(seq0)) + zlib.compress(raw, LEVEL)


def decode_index(data: bytes) -> list[tuple[int, int]]:
    """``[(seq0, n)]`` of a segment's blocks, in order."""
    (k,) = struct.unpack_from("<I", data, 0)
    raw = zlib.decompress(data[4:])
    seq0 = np.frombuffer(raw, dtype="<i8", count=k)
    n = np.frombuffer(raw, dtype="<i4", count=k, offset=8 * k)
    return [(int(seq0[i]), int(n[i])) for i in range(k)]
