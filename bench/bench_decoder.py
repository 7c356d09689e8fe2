"""Decoder throughput: samples/s decoded by finemotor.protocol, against a naive decoder.

The naive decoder unpacks each sample with ``struct`` in a Python loop, the way one would
without numpy. Both decode the same frames in the same run; the figure that travels between
machines is the ratio. Median of several runs.
"""

from __future__ import annotations

import statistics
import struct
import time

import numpy as np

from finemotor.protocol import decode_frames

RUNS = 7


def make_frames(n_frames: int, per_frame: int, seed: int = 1) -> list[bytes]:
    """Stylus frames (layout 1) of random counts."""
    rng = np.random.default_rng(seed)
    frames = []
    for f in range(n_frames):
        head = struct.pack("<BBHIBB", 0x10, 1, (f * per_frame) & 0xFFFF, f * 20000, per_frame, 0)
        body = rng.integers(0, 256, size=per_frame * 6, dtype=np.uint8).tobytes()
        frames.append(head + body)
    return frames


def naive_decode(frames: list[bytes]) -> list[tuple[int, int, int]]:
    """Per-sample Python loop: the baseline."""
    out = []
    for fr in frames:
        _, _, _, _, count, _ = struct.unpack_from("<BBHIBB", fr, 0)
        for k in range(count):
            o = 10 + 6 * k
            tip = int.from_bytes(fr[o : o + 3], "little", signed=True)
            aux = int.from_bytes(fr[o + 3 : o + 6], "little")
            out.append((tip, aux & 0xFFF, aux >> 12))
    return out


def timed(fn: object, *args: object) -> float:
    t0 = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - t0


def main() -> None:
    """Print decoder throughput for live-sized and backlog-sized frames."""
    for label, per_frame, n_frames in (
        ("live (4 samples/frame)", 4, 25_000),
        ("backlog (39 samples/frame)", 39, 2_500),
    ):
        frames = make_frames(n_frames, per_frame)
        n = n_frames * per_frame
        decoded, errors = decode_frames(frames)
        assert decoded is not None and not errors
        assert decoded.counts[:, 0].tolist() == [s[0] for s in naive_decode(frames)]
        fast = statistics.median(timed(decode_frames, frames) for _ in range(RUNS))
        slow = statistics.median(timed(naive_decode, frames) for _ in range(RUNS))
        print(
            f"{label}: numpy {n / fast:,.0f} samples/s, naive {n / slow:,.0f} samples/s, "
            f"ratio {slow / fast:.1f}x (median of {RUNS})"
        )
        print(f"  vs one stylus at 200 Hz: {n / fast / 200:,.0f}x real time")
    # One frame at a time, as a live stream decodes on each notification.
    frames = make_frames(5_000, 4)
    one = statistics.median(
        timed(lambda fs: [decode_frames([f]) for f in fs], frames) for _ in range(3)
    )
    print(
        f"per-notification decode: {one / len(frames) * 1e6:.1f} us/frame, "
        f"{len(frames) * 4 / one:,.0f} samples/s"
    )


if __name__ == "__main__":
    main()
