"""Decoding sample frames with numpy: many frames at once, no per-sample Python loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from finemotor.errors import ProtocolError
from finemotor.protocol.constants import (
    FRAME_BACKFILL,
    HEADER_SIZE,
    LAYOUTS,
    PROTOCOL_VERSION,
    TICK_MODULUS,
    Layout,
)

_I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class DecodedFrames:
    """Valid frames of one device, decoded in arrival order.

    Attributes:
        layout: the channel layout all frames share.
        ftype: frame type per frame (0 live, 1 backfill).
        seq: wire sequence number (sample index mod 2**16) of each frame's first sample.
        tick: device tick (microseconds mod 2**30) of each frame's first sample.
        count: samples per frame.
        flags: flag byte per frame.
        counts: raw counts of every sample, frames concatenated, shape (sum(count), channels).
    """

    layout: Layout
    ftype: _I64
    seq: _I64
    tick: _I64
    count: _I64
    flags: _I64
    counts: npt.NDArray[np.int32]

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.seq.shape[0])

    def frame_bounds(self) -> _I64:
        """Index into ``counts`` where each frame starts, plus the total at the end."""
        return np.concatenate(([0], np.cumsum(self.count))).astype(np.int64)


def _records(layout: Layout, raw: npt.NDArray[np.uint8]) -> npt.NDArray[np.int32]:
    """Unpack records (shape (n, record_size) of bytes) into counts (n, channels)."""
    b = raw.astype(np.int32)
    tip = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
    tip = (tip ^ 0x800000) - 0x800000
    if layout.record_size == 3:
        return tip.reshape(-1, 1)
    aux = b[:, 3] | (b[:, 4] << 8) | (b[:, 5] << 16)
    return np.stack((tip, aux & 0xFFF, aux >> 12), axis=1)


def decode_frames(
    frames: Sequence[bytes | bytearray | memoryview], layout: Layout | None = None
) -> tuple[DecodedFrames | None, list[ProtocolError]]:
    """Decode notifications from one device.

    Malformed frames are left out and returned as errors (one per frame, with the reason);
    the valid ones are decoded together.

    Args:
        frames: notification payloads as received.
        layout: the device's layout; if None, the first valid frame's layout is used and
            frames with another layout are errors.

    Returns:
        The decoded valid frames (None if there are none) and the errors.
    """
    n = len(frames)
    errors: list[ProtocolError] = []
    if n == 0:
        return None, errors
    lengths = np.fromiter((len(f) for f in frames), dtype=np.int64, count=n)
    buf = np.frombuffer(b"".join(bytes(f) for f in frames), dtype=np.uint8)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    ok = lengths >= HEADER_SIZE
    hdr = np.zeros((n, HEADER_SIZE), dtype=np.int64)
    hdr[ok] = buf[starts[ok, None] + np.arange(HEADER_SIZE)]
    version = hdr[:, 0] >> 4
    ftype = hdr[:, 0] & 0x0F
    lay = hdr[:, 1]
    seq = hdr[:, 2] | (hdr[:, 3] << 8)
    tick = hdr[:, 4] | (hdr[:, 5] << 8) | (hdr[:, 6] << 16) | (hdr[:, 7] << 24)
    count = hdr[:, 8]
    flags = hdr[:, 9]

    if layout is None:
        known = ok & (version == PROTOCOL_VERSION) & np.isin(lay, list(LAYOUTS))
        if known.any():
            layout = LAYOUTS[int(lay[np.argmax(known)])]
    rec = layout.record_size if layout is not None else 0
    reasons = np.full(n, "", dtype=object)
    checks: list[tuple[npt.NDArray[np.bool_], str, str]] = [
        (~ok, "truncated", "shorter than the 10-byte header"),
        (version != PROTOCOL_VERSION, "bad_version", "protocol version is not 1"),
        (ftype > FRAME_BACKFILL, "bad_type", "unknown frame type"),
        (lay != (layout.layout_id if layout else -1), "bad_layout", "unexpected channel layout"),
        (count == 0, "empty", "frame holds no samples"),
        (lengths != HEADER_SIZE + count * rec, "bad_length", "length does not match count"),
        (tick >= TICK_MODULUS, "bad_tick", "tick beyond 2**30"),
    ]
    for mask, reason, detail in checks:
        fresh = mask & (reasons == "")
        for i in np.flatnonzero(fresh):
            reasons[i] = reason
            errors.append(ProtocolError(reason, f"frame {i}: {detail}", bytes(frames[int(i)])[:64]))
    valid = reasons == ""
    if layout is None or not valid.any():
        return None, errors
    pstart = starts[valid] + HEADER_SIZE
    plen = count[valid] * rec
    offsets = np.repeat(pstart - np.concatenate(([0], np.cumsum(plen)[:-1])), plen)
    raw = buf[np.arange(int(plen.sum()), dtype=np.int64) + offsets].reshape(-1, rec)
    decoded = DecodedFrames(
        layout=layout,
        ftype=ftype[valid],
        seq=seq[valid],
        tick=tick[valid],
        count=count[valid],
        flags=flags[valid],
        counts=_records(layout, raw),
    )
    return decoded, errors


def decode_frame(data: bytes | bytearray | memoryview) -> DecodedFrames:
    """Decode one notification; raise ProtocolError if it is malformed."""
    decoded, errors = decode_frames([data])
    if errors:
        raise errors[0]
    assert decoded is not None
    return decoded
