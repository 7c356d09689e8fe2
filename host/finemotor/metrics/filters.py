"""Signal conditioning: Butterworth low-pass filters, zero-lag for summaries, causal for live.

The zero-lag path (``sosfiltfilt``) runs on closed segments (a grip trial, a piece of a pen
stroke); the causal path (``sosfilt`` with its state carried between blocks) gives the live
display values and the grip trial trigger, and gives the same output whatever the blocks.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import signal

F64 = npt.NDArray[np.float64]

MAX_CUTOFF_FRACTION = 0.4
"""Cut-offs are clamped to 0.4 x the sampling rate (below Nyquist with margin)."""


def lowpass_sos(cutoff_hz: float, rate_hz: float, order: int = 2) -> F64:
    """Return second-order sections of a Butterworth low-pass.

    Args:
        cutoff_hz: -3 dB frequency of one pass (clamped to 0.4 x ``rate_hz``).
        rate_hz: sampling rate.
        order: filter order of one pass (a zero-lag pass doubles it).
    """
    fc = min(cutoff_hz, MAX_CUTOFF_FRACTION * rate_hz)
    sos: F64 = signal.butter(order, fc, btype="low", fs=rate_hz, output="sos")
    return sos


def zero_lag(sos: F64, x: F64) -> F64:
    """Filter forwards and backwards (no phase lag); short inputs are returned unchanged."""
    if x.shape[0] < 4:
        return x.astype(np.float64, copy=True)
    default_pad = 3 * (2 * sos.shape[0] + 1)
    y: F64 = signal.sosfiltfilt(sos, x, padlen=min(default_pad, x.shape[0] - 1))
    return y


class CausalFilter:
    """A causal filter whose state carries from one block to the next.

    The state starts at steady state for the first sample, so a signal that begins at a
    non-zero level does not ring.
    """

    def __init__(self, sos: F64) -> None:
        self._sos = sos
        self._zi: F64 | None = None
        self.last: float | None = None

    def process(self, x: F64) -> F64:
        """Return the filtered block and keep the state for the next one."""
        if x.shape[0] == 0:
            return x.astype(np.float64, copy=True)
        if self._zi is None:
            self._zi = signal.sosfilt_zi(self._sos) * float(x[0])
        y, self._zi = signal.sosfilt(self._sos, x, zi=self._zi)
        out: F64 = np.asarray(y, dtype=np.float64)
        self.last = float(out[-1])
        return out
