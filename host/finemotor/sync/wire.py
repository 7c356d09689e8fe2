"""The upload format, shared by the desk and the server (docs/api.md, "Desk upload").

A session goes up as: its description (``PUT``), then chunks of sample blocks, events and
metric snapshots (``POST``, each idempotent: a block is keyed by its device and first sequence
number, an event or metric by its row on the desk), then a completion (``POST``) carrying, per
device, the number of samples and blocks and a digest of all blocks. The server marks the
session complete only when its own counts and digest agree.

Each block carries its SHA-256 over ``seq0 (int64 LE) | n (int32 LE) | t | counts`` where ``t``
is float64 LE device seconds and ``counts`` int32 LE, row-major; the device digest is the
SHA-256 of the blocks' hex digests in ``seq0`` order. So a truncated or altered block is
refused on arrival, and a missing one is seen at completion.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finemotor.errors import RefusedError

if TYPE_CHECKING:
    from finemotor.recording import DeviceInfo

CHUNK_BYTES = 512 * 1024
"""About how many bytes of samples one upload request carries."""
MAX_BODY_BYTES = 4 * 1024 * 1024
"""The largest request body the server takes (a chunk, with base64 and JSON around it)."""
MAX_BLOCK_SAMPLES = 65536
MAX_CHANNELS = 8
MAX_DEVICES = 4

SESSION_STATES = ("recorded", "uploading", "complete")
"""Where a desk's session is: only on the desk, partly on the server, confirmed there."""


@dataclass(frozen=True)
class Block:
    """One block of samples, as recorded at the desk.

    Attributes:
        seq0: the sequence number of its first sample (the device's, unwrapped).
        n: samples in it.
        t: float64 LE device seconds, ``8 * n`` bytes.
        counts: int32 LE raw counts, ``4 * n * channels`` bytes, sample after sample.
    """

    seq0: int
    n: int
    t: bytes
    counts: bytes

    def digest(self) -> str:
        """The block's SHA-256 (hex), as defined above."""
        h = hashlib.sha256(struct.pack("<qi", self.seq0, self.n))
        h.update(self.t)
        h.update(self.counts)
        return h.hexdigest()

    def to_json(self) -> dict[str, Any]:
        """The block in an upload chunk."""
        return {
            "seq0": self.seq0,
            "n": self.n,
            "t": base64.b64encode(self.t).decode(),
            "counts": base64.b64encode(self.counts).decode(),
            "sha256": self.digest(),
        }


def device_description(d: DeviceInfo) -> dict[str, Any]:
    """A recorded device as the upload (and the server's export) describes it."""
    return {
        "name": d.name,
        "kind": d.kind,
        "channels": list(d.channels),
        "serial": d.serial,
        "firmware": d.firmware,
        "model": d.model,
        "rate_hz": d.rate_hz,
        "calibration": d.calibration,
    }


def device_digest(block_digests: Iterable[str]) -> str:
    """The digest of a device's blocks: SHA-256 of their hex digests in ``seq0`` order."""
    h = hashlib.sha256()
    for d in block_digests:
        h.update(d.encode())
    return h.hexdigest()


def _bad(message: str) -> RefusedError:
    return RefusedError(400, "bad_chunk", message)


def block_from_json(obj: Any, channels: int) -> Block:
    """Check one block of a chunk against its own digest and the device's channel count.

    Raises:
        RefusedError: malformed, truncated or altered (status 400, ``"bad_chunk"``).
    """
    if not isinstance(obj, dict):
        raise _bad("a block must be an object")
    seq0, n = obj.get("seq0"), obj.get("n")
    if not isinstance(seq0, int) or isinstance(seq0, bool) or not 0 <= seq0 < 2**62:
        raise _bad("a block's seq0 must be a non-negative integer")
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_BLOCK_SAMPLES:
        raise _bad(f"a block's n must be 1 to {MAX_BLOCK_SAMPLES}")
    try:
        t = base64.b64decode(str(obj.get("t", "")), validate=True)
        counts = base64.b64decode(str(obj.get("counts", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad("a block's t and counts must be base64") from exc
    if len(t) != 8 * n or len(counts) != 4 * n * channels:
        raise _bad(
            f"block {seq0} is truncated: {n} samples of {channels} channel(s) need "
            f"{8 * n} + {4 * n * channels} bytes, it has {len(t)} + {len(counts)}"
        )
    block = Block(seq0, n, t, counts)
    if block.digest() != obj.get("sha256"):
        raise _bad(f"block {seq0} does not match its sha256: it was altered on the way")
    first, last = struct.unpack_from("<d", t, 0)[0], struct.unpack_from("<d", t, 8 * (n - 1))[0]
    if not (math.isfinite(first) and math.isfinite(last)):
        raise _bad(f"block {seq0} has device times that are not finite numbers")
    return block


def times_of(block: Block) -> tuple[float, float]:
    """The device times of a block's first and last samples (s)."""
    return (
        struct.unpack_from("<d", block.t, 0)[0],
        struct.unpack_from("<d", block.t, 8 * (block.n - 1))[0],
    )
