# Analog front ends of the simulated kit: load cell bridges (force -> mV/V), force-sensing
# resistors in a divider (force -> volts at an ESP32 ADC pin), the battery divider, and the
# ESP32's 12-bit ADC that digitises them. Also the simulator's seeded random source.
#
# Float work happens when the world computes a conversion or refreshes the analog channels,
# never inside a simulated bus transfer: those only copy integers prepared beforehand.
import math

_U32 = 0xFFFFFFFF


class Rng:
    # xorshift32: small, seeded, independent of the firmware's own `random` state.
    def __init__(self, seed):
        self.s = (seed * 2654435761 + 12345) & _U32 or 1
        self._spare = None

    def u32(self):
        s = self.s
        s ^= (s << 13) & _U32
        s ^= s >> 17
        s ^= (s << 5) & _U32
        self.s = s
        return s

    def irange(self, lo, hi):
        # Integer in [lo, hi], allocation-free.
        return lo + self.u32() % (hi - lo + 1)

    def uniform(self, lo=0.0, hi=1.0):
        return lo + (hi - lo) * ((self.u32() >> 8) + 0.5) / 16777216.0

    def gauss(self):
        # Standard normal, Box-Muller (MicroPython's random has no gauss).
        if self._spare is not None:
            g = self._spare
            self._spare = None
            return g
        r = math.sqrt(-2.0 * math.log(self.uniform()))
        a = 6.283185307179586 * self.uniform()
        self._spare = r * math.sin(a)
        return r * math.cos(a)

    def inoise(self, rms):
        # Integer noise of about `rms` RMS (Irwin-Hall of 3), allocation-free: for ADC reads
        # that may run inside an interrupt handler.
        s = (self.u32() & 0xFFFF) + (self.u32() & 0xFFFF) + (self.u32() & 0xFFFF) - 98302
        return s * rms // 32768


def memory(mem, x, span):
    # Direction memory for hysteresis, mem = [m, last x]: m goes to 0 after a rising load and
    # to 1 after a falling one, over `span` (a fraction of full scale) of travel.
    m = mem[0] - (x - mem[1]) / span
    mem[0] = m = 0.0 if m < 0.0 else 1.0 if m > 1.0 else m
    mem[1] = x
    return m


class LoadCell:
    # A strain-gauge bridge. Output (mV/V) = zero + drift*t + sensitivity*F
    #   + nonlin*FSO*4x(1-x) + hyst*FSO*4x(1-x)*m,  x = F/full_scale, m in [0, 1] (memory());
    # F is clipped to [0, full_scale] (the overload stop). FSO = sensitivity*full_scale.
    def __init__(self, rng, full_scale_n, mvv_at_fs, nonlin, hyst, zero_mvv, drift_mvv_s):
        self.full_scale_n = full_scale_n
        self.sens = mvv_at_fs * rng.uniform(0.9, 1.1) / full_scale_n  # mV/V per newton
        self.nonlin = nonlin * rng.uniform(0.5, 1.0)
        self.hyst = hyst * rng.uniform(0.5, 1.0)
        self.zero = zero_mvv * rng.uniform(-1.0, 1.0)
        self.drift = drift_mvv_s * rng.uniform(-1.0, 1.0)
        self._mem = [0.0, 0.0]

    def mvv(self, force_n, t_s):
        fs = self.full_scale_n
        f = 0.0 if force_n < 0.0 else fs if force_n > fs else force_n
        x = f / fs
        m = memory(self._mem, x, 0.05)
        bow = 4.0 * x * (1.0 - x) * self.sens * fs
        return self.zero + self.drift * t_s + self.sens * f + bow * (self.nonlin + self.hyst * m)

    def truth(self, counts_per_mvv):
        return {
            "counts_per_n": self.sens * counts_per_mvv,
            "offset_counts": self.zero * counts_per_mvv,
            "nonlinearity": self.nonlin,
            "hysteresis": self.hyst,
            "drift_counts_per_s": self.drift * counts_per_mvv,
            "full_scale_n": self.full_scale_n,
            "full_scale_counts": self.sens * self.full_scale_n * counts_per_mvv,
        }


def clamp24(x):
    return -8388608 if x < -8388608 else 8388607 if x > 8388607 else x


class Fsr:
    # A force-sensing resistor from the supply to the ADC pin, r_fixed_ohm from the pin to
    # ground. Conductance follows a power law above an activation threshold:
    #   G = (F/1 N)**alpha / r1_ohm  (F > threshold), open below; falling load reads higher by
    #   up to `hyst` (conductance x (1 + hyst*m)).
    def __init__(self, rng, vcc_mv=3300, r_fixed_ohm=10000):
        self.r1 = 10000.0 * rng.uniform(0.75, 1.25)
        self.alpha = rng.uniform(0.9, 1.15)
        self.threshold_n = rng.uniform(0.1, 0.3)
        self.hyst = rng.uniform(0.06, 0.12)
        self.vcc_mv = vcc_mv
        self.r_fixed = r_fixed_ohm
        self._mem = [0.0, 0.0]

    def uv(self, force_n):
        m = memory(self._mem, force_n / 10.0, 0.1)
        if force_n <= self.threshold_n:
            return 0
        g = math.pow(force_n, self.alpha) / self.r1 * (1.0 + self.hyst * m)
        gr = g * self.r_fixed
        return int(self.vcc_mv * 1000.0 * gr / (1.0 + gr))

    def truth(self):
        return {
            "kind": "fsr",
            "r1_ohm": self.r1,
            "alpha": self.alpha,
            "threshold_n": self.threshold_n,
            "hysteresis": self.hyst,
            "r_fixed_ohm": self.r_fixed,
            "vcc_mv": self.vcc_mv,
        }


# ESP32-S3 ADC full-scale input (mV) for ATTN_0DB, 2_5DB, 6DB, 11DB.
ADC_FULL_MV = (950, 1250, 1750, 3100)


class AdcChannel:
    # One ESP32 ADC input: `uv` (microvolts at the pin) is refreshed by the world; reads add
    # integer noise and quantise to 12 bits without allocating.
    def __init__(self, rng, noise_lsb=4):
        self.rng = rng
        self.uv = 0
        self.atten = 0
        self.noise_lsb = noise_lsb
        self.offset_lsb = rng.irange(-6, 6)
        self.update = None  # fn(t_us) -> microvolts, set by the world (None: uv is set)

    def raw12(self):
        full = ADC_FULL_MV[self.atten] * 1000
        r = self.uv * 4095 // full + self.offset_lsb + self.rng.inoise(self.noise_lsb)
        return 0 if r < 0 else 4095 if r > 4095 else r

