# What the three simulated bridge ADCs share: a conversion schedule kept exact over hours
# (t_k = t0 + k*period_ns//1000, integer world microseconds), the conversion itself
# (load cell -> mV/V -> counts with gain, chip offset, seeded noise, 24-bit saturation), and
# the fault modes the world can inject.
import math

from chips.analog import clamp24

NEVER = 1 << 60


class BridgeChip:
    NAME = "bridge"

    def __init__(self, world, cell, channel, osc_tol_ppm):
        self.world = world
        self.cell = cell
        self.channel = channel  # the force channel it measures ("tip" or "grip")
        self.rng = world.rng
        self.osc_ppm = world.rng.irange(-osc_tol_ppm, osc_tol_ppm)  # its own oscillator
        self.failed = None  # None, "nack", "stuck" or "cal"
        self.conversions = 0
        self.counts = 0  # the last conversion result
        self.rate = 0
        self.next_us = NEVER
        self._conv_at = NEVER
        self._t0 = 0
        self._k = 0
        self._per_ns = 0

    # -- schedule ---------------------------------------------------------------------------
    def period_ns(self, rate):
        return 1_000_000_000 * (1_000_000 + self.osc_ppm) // (rate * 1_000_000)

    def start(self, t, rate, first_us):
        # Convert continuously at `rate` (nominal SPS); the first result is ready first_us
        # after t, then one every period.
        self.rate = rate
        self._per_ns = self.period_ns(rate)
        self._t0 = t + first_us
        self._k = 0
        self._conv_at = self._t0

    def stop(self):
        self._conv_at = NEVER

    def _next_conv(self):
        self._k += 1
        self._conv_at = self._t0 + self._k * self._per_ns // 1000

    # -- the conversion ---------------------------------------------------------------------
    def noise_rms(self, gain):
        # Counts RMS at this rate and gain: input-referred noise, rising with sqrt(rate).
        return self.NOISE_128 * math.sqrt(self.rate / self.NOISE_SPS) * gain / 128

    def convert(self, t, counts_per_mvv, offset_counts, noise_rms):
        w = self.world
        mvv = self.cell.mvv(w.force(self.channel, t), t / 1_000_000)
        x = mvv * counts_per_mvv + offset_counts + noise_rms * self.rng.gauss()
        self.conversions += 1
        self.counts = clamp24(int(x + 0.5) if x >= 0 else -int(0.5 - x))
        return self.counts

    def fail(self, mode):
        self.failed = mode

    def dead(self):
        # Absent ("nack") or hung ("stuck"): no conversion completes.
        f = self.failed
        return f == "nack" or f == "stuck"

    def chip_offset(self):
        # The chip's own offset (counts) at the present gain.
        return self.internal_offset * self.gain() // 128

    def truth(self):
        g = self.gain()
        d = self.cell.truth(self.counts_per_mvv())
        off = self.chip_offset()
        d["offset_counts"] += off
        d["chip_offset_counts"] = off
        d["chip"] = self.NAME
        d["gain"] = g
        d["noise_rms_counts"] = self.noise_rms(g) if self.rate else 0.0
        d["rate_sps"] = self.rate
        d["osc_ppm"] = self.osc_ppm
        d["period_ns"] = self._per_ns
        d["first_us"] = self._t0
        d["conversions"] = self.conversions
        return d
