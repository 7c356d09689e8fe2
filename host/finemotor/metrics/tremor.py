"""Tremor spectrum: Welch's averaged periodogram over pen-down segments, streaming.

Each pen-down segment is cut into windows of ``window_s`` with 50% overlap, starting at the
segment's first sample; each window is linearly detrended, Hann-weighted and transformed,
and its one-sided power spectral density is added to a running sum. Shares and peaks are read
on one grid, multiples of 1/``window_s``, whatever the sampling rate. Segments shorter than
one window contribute nothing. Memory: one window of samples and one spectrum.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import signal

from finemotor.metrics.config import PenConfig, PenTask
from finemotor.metrics.results import HERTZ, RATIO, Metric, absent, present

F64 = npt.NDArray[np.float64]


class WelchAccumulator:
    """Running sum of windowed periodograms over pen-down segments."""

    def __init__(self, rate_hz: float, window_s: float) -> None:
        self.rate_hz = rate_hz
        self.nperseg = max(8, round(window_s * rate_hz))
        self.step = self.nperseg // 2
        self._win = signal.get_window("hann", self.nperseg)
        self._scale = 1.0 / (rate_hz * float(np.dot(self._win, self._win)))
        tc = np.arange(self.nperseg, dtype=np.float64)
        self._tc = tc - tc.mean()
        self._sxx = float(np.dot(self._tc, self._tc))
        self.freqs: F64 = np.fft.rfftfreq(self.nperseg, 1.0 / rate_hz).astype(np.float64)
        self.psd_sum: F64 = np.zeros(self.freqs.shape[0])
        self.windows = 0
        self._carry: F64 = np.empty(0)

    @property
    def buffered(self) -> int:
        """Samples waiting for the next window."""
        return int(self._carry.shape[0])

    def add_segment_samples(self, x: F64) -> None:
        """Add the next samples of the current pen-down segment."""
        buf = np.concatenate((self._carry, x)) if self._carry.shape[0] else x
        n = buf.shape[0]
        if n < self.nperseg:
            self._carry = buf.copy()
            return
        k = 1 + (n - self.nperseg) // self.step
        for j in range(k):  # one window per half-window of data: not a per-sample loop
            seg = buf[j * self.step : j * self.step + self.nperseg]
            b = float(np.dot(seg, self._tc)) / self._sxx
            resid = seg - float(np.mean(seg)) - b * self._tc
            spec = np.fft.rfft(resid * self._win)
            psd = (spec.real**2 + spec.imag**2) * self._scale
            psd[1:] *= 2.0
            if self.nperseg % 2 == 0:
                psd[-1] /= 2.0
            self.psd_sum += psd
        self.windows += k
        self._carry = buf[k * self.step :].copy()

    def end_segment(self) -> None:
        """The current pen-down segment ended; drop its unused tail."""
        self._carry = np.empty(0)


def tremor_metrics(acc: WelchAccumulator, config: PenConfig, task: PenTask) -> dict[str, Metric]:
    """Return tremor shares and peak frequencies from the accumulated spectrum."""
    out: dict[str, Metric] = {}
    lo_t, hi_t = config.tremor_total_band_hz
    names = {
        "share_4_12": config.tremor_band_hz,
        "share_8_12": config.tremor_narrow_band_hz,
    }
    if acc.windows == 0:
        why = (
            f"no pen-down segment of at least {config.tremor_window_s:g} s "
            "(tremor needs continuous pen contact)"
        )
        for name in names:
            out[name] = absent(RATIO, why)
        out["peak_hz_4_12"] = absent(HERTZ, why)
        out["peak_hz_8_12"] = absent(HERTZ, why)
        out["windows"] = present(0, "count")
        return out
    # one frequency grid whatever the rate: multiples of 1/window (0.5 Hz), the spectrum
    # interpolated onto it when the window's sample count makes its own bins fall elsewhere
    step = 1.0 / config.tremor_window_s
    f = step * np.arange(int(np.floor(float(acc.freqs[-1]) / step + 1e-9)) + 1)
    p = np.interp(f, acc.freqs, acc.psd_sum)
    total = float(np.sum(p[(f >= lo_t) & (f <= hi_t)]))
    for name, (lo, hi) in names.items():
        band = (f >= lo) & (f <= hi)
        note = None
        if name == "share_4_12" and task == "free_writing":
            note = (
                "free writing: the strokes themselves run at 3-7 Hz and fall in this band; "
                "read share_8_12 for tremor"
            )
        if total <= 0.0:
            out[name] = absent(RATIO, "no force variation during pen-down")
        else:
            out[name] = present(float(np.sum(p[band])) / total, RATIO, note)
        suffix = name.removeprefix("share_")
        if total <= 0.0 or not np.any(band):
            out[f"peak_hz_{suffix}"] = absent(HERTZ, "no force variation during pen-down")
        else:
            idx = np.flatnonzero(band)
            out[f"peak_hz_{suffix}"] = present(
                float(f[idx[int(np.argmax(p[idx]))]]),
                HERTZ,
                f"resolution {step:g} Hz",
            )
    out["windows"] = present(acc.windows, "count")
    return out
