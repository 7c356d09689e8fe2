"""Fewer points to draw: a min/max envelope per bucket keeps every peak a line would show."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


def minmax_decimate(t: F64, y: F64, buckets: int = 2000) -> tuple[F64, F64]:
    """Return at most ``2 * buckets`` points of ``(t, y)``: each bucket's minimum and maximum,
    in time order, so the drawn line has the same peaks and troughs as the full one.

    Short signals (at most ``2 * buckets`` samples) are returned unchanged. NaNs are kept out
    of the envelope.
    """
    n = int(t.shape[0])
    if n <= 2 * buckets or buckets < 1:
        return t, y
    size = -(-n // buckets)  # ceil: every bucket but the last is full
    pad = size * buckets - n
    yy = np.concatenate([y, np.full(pad, np.nan)]).reshape(buckets, size)
    finite = np.isfinite(yy)
    if not finite.any():
        return t[:0], y[:0]
    lo = np.where(finite, yy, np.inf).argmin(axis=1)
    hi = np.where(finite, yy, -np.inf).argmax(axis=1)
    keep = finite.any(axis=1)
    base = np.arange(buckets) * size
    idx = np.sort(np.concatenate([(base + lo)[keep], (base + hi)[keep]]))
    idx = np.unique(idx)
    return t[idx], y[idx]
