"""Device time to host time: a line fitted through time-sync exchanges.

Each TIME_SYNC answers with the device's tick; the host notes when it asked and when the
answer came, and takes the midpoint as the host time of that tick (round trip halved, as NTP
does). A least-squares line through the recent exchanges gives offset and drift (crystal
error, ppm), so device time maps to host time between syncs. Exchanges with a long round
trip are the least trustworthy and are left out.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class ClockSync:
    """Maps a device's unwrapped microsecond clock to host seconds.

    Args:
        keep: how many recent exchanges to fit.
    """

    def __init__(self, keep: int = 32) -> None:
        self._pairs: deque[tuple[float, float, float]] = deque(maxlen=keep)
        self._fit: tuple[float, float] | None = None  # host_s = a + b * device_us

    def add(self, sent_s: float, device_us: float, received_s: float) -> None:
        """Record one exchange: host send time, device tick (unwrapped), host receive time."""
        self._pairs.append((device_us, (sent_s + received_s) / 2, received_s - sent_s))
        self._refit()

    @property
    def ready(self) -> bool:
        """True once at least one exchange is recorded."""
        return self._fit is not None

    @property
    def drift_ppm(self) -> float:
        """How fast the device's clock runs against the host's, parts per million."""
        if self._fit is None:
            return 0.0
        return (1e-6 / self._fit[1] - 1.0) * 1e6

    @property
    def rtt_s(self) -> float:
        """Median round trip of the kept exchanges, seconds."""
        return float(np.median([p[2] for p in self._pairs])) if self._pairs else float("nan")

    def to_host(self, device_us: np.ndarray | float) -> np.ndarray | float:
        """Host time (seconds) of device time(s) in unwrapped microseconds."""
        if self._fit is None:
            raise ValueError("no time sync yet")
        a, b = self._fit
        return a + b * np.asarray(device_us, dtype=np.float64)

    def _refit(self) -> None:
        pairs = np.array(self._pairs)
        if len(pairs) >= 4:
            rtt = pairs[:, 2]
            pairs = pairs[rtt <= np.median(rtt) * 1.5 + 1e-6]
        dev, host = pairs[:, 0], pairs[:, 1]
        if len(pairs) < 2 or np.ptp(dev) < 1e6:  # under a second of span: offset only
            self._fit = (float(np.mean(host - dev * 1e-6)), 1e-6)
            return
        b, a = np.polyfit(dev - dev[0], host, 1)
        self._fit = (float(a - b * dev[0]), float(b))
