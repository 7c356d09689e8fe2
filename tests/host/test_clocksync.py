"""ClockSync: device microseconds to host seconds, through jittery round trips."""

from __future__ import annotations

import numpy as np
import pytest

from finemotor.clocksync import ClockSync


@pytest.mark.parametrize("drift_ppm", [-80.0, 0.0, 40.0])
def test_offset_and_drift_are_recovered_from_noisy_exchanges(drift_ppm: float) -> None:
    rng = np.random.default_rng(3)
    sync = ClockSync()
    offset_s = 1234.5
    for k in range(30):
        host_mid = offset_s + 5.0 * k  # one exchange every 5 s
        device_us = (host_mid - offset_s) * 1e6 * (1 + drift_ppm * 1e-6) + 7_000_000
        half_rtt = 0.004 + rng.exponential(0.002)
        skew = rng.normal(0, 0.0003)  # the two directions are never quite equal
        sync.add(host_mid - half_rtt + skew, device_us, host_mid + half_rtt + skew)
    assert sync.drift_ppm == pytest.approx(drift_ppm, abs=2.0)
    probe = 7_000_000 + 60e6 * (1 + drift_ppm * 1e-6)  # a sample 60 s in
    assert float(sync.to_host(probe)) == pytest.approx(offset_s + 60.0, abs=0.001)
    assert 0.008 < sync.rtt_s < 0.02


def test_one_exchange_gives_an_offset_and_none_gives_an_error() -> None:
    sync = ClockSync()
    with pytest.raises(ValueError, match="no time sync"):
        sync.to_host(0.0)
    sync.add(10.0, 5_000_000.0, 10.01)
    assert float(sync.to_host(6_000_000.0)) == pytest.approx(11.005)
    assert sync.drift_ppm == pytest.approx(0.0)


def test_slow_round_trips_are_left_out_of_the_fit() -> None:
    sync = ClockSync()
    for k in range(10):
        mid = 100.0 + k
        sync.add(mid - 0.005, k * 1e6, mid + 0.005)
    sync.add(110.0 - 0.5, 10e6 + 400_000, 110.0 + 0.5)  # a 1 s round trip, midpoint off
    assert float(sync.to_host(10e6)) == pytest.approx(110.0, abs=0.002)
