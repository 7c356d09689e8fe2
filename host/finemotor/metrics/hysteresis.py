"""Two-threshold state detection, vectorised, with the state carried between blocks."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.intp]


def hysteresis(x: F64, on: float, off: float, state: bool) -> Bools:
    """Return the on/off state after each sample.

    The state turns on at a sample ``>= on`` and off at a sample ``<= off`` (``off < on``);
    in between it keeps the previous state, starting from ``state``.
    """
    n = x.shape[0]
    ev = np.zeros(n, dtype=np.int8)
    ev[x >= on] = 1
    ev[x <= off] = -1
    idx = np.where(ev != 0, np.arange(n), -1)
    last = np.maximum.accumulate(idx) if n else idx
    out: Bools = np.where(last >= 0, ev[np.maximum(last, 0)] > 0, state)
    return out


def transitions(states: Bools, previous: bool) -> Ints:
    """Return the indices where ``states`` differs from the state before it."""
    if states.shape[0] == 0:
        return np.empty(0, dtype=np.intp)
    prev = np.empty_like(states)
    prev[0] = previous
    prev[1:] = states[:-1]
    out: Ints = np.flatnonzero(states != prev)
    return out
