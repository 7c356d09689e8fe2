# A simulated school-age student who writes with the stylus and squeezes the grip dynamometer.
#
# Pure Python that runs unchanged under CPython (host tests make signals with known truth) and
# under the MicroPython unix port (the simulated sensor chips read it beneath the firmware).
# Forces in newtons; t in seconds since the session started (t = 0 starts the scenario).
#
#   s = Student(seed=3)
#   tip, barrel_a, barrel_b = s.pen(t)   # t non-decreasing across calls
#   force = s.grip(t)                    # t non-decreasing across calls
#   s.truth()                            # JSON-ready: what a perfect measurement of the
#                                        # samples asked for so far would report
#
# The signal is a function of t alone (for a seed, profile and scenario), however often it is
# sampled; only the truth depends on the instants asked for. Events (the next stroke, the next
# squeeze) are drawn when time reaches them and the truth is kept as running sums, so memory
# stays flat. Every random draw comes from integer xorshift32 streams and the rest is IEEE
# double arithmetic, so CPython and MicroPython give the same numbers.
# The model, its defaults and their sources: docs/simulation.md.
import math
from array import array

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


VERSION = "finemotor-student/1"

_M32 = const(0xFFFFFFFF)
_PI = math.pi
_NAN = float("nan")
_GAP = const(0)  # pen items
_STROKE = const(1)
_DOWN = const(0)  # pen sample states, for the time accounting
_AIR = const(1)
_REST = const(2)
_NONE = const(-1)  # grip items: no squeeze, or one of the four kinds below
_TRIAL = const(0)
_HOLD = const(1)
_REP = const(2)
_TARGET = const(3)
_BF = const(11)  # fields of a pen block (totals or one minute), see _blk
_GF = const(18)  # fields of a grip squeeze row, see _row
_MAX_BINS = const(240)
_MAX_ROWS = const(48)

# A typically developing child of about 8-10 years. Override any key through `profile`.
DEFAULTS = {
    "pen_force_N": 1.5,  # mean axial tip force over pen-down time
    "pen_between_cv": 0.20,  # stroke-to-stroke CV of the stroke's mean force
    "pen_within_cv": 0.12,  # RMS modulation of the force within a stroke's plateau
    "pen_ramp_s": 0.02,  # touch-down and lift-off ramps
    "stroke_s": 0.18,  # medians of log-normal durations, clamped to [median/3, 3 median]
    "lift_s": 0.15,
    "word_gap_s": 0.7,
    "word_strokes": 6,  # pen-down strokes per word, uniform in +-3
    "think_every_words": 6,  # free writing ("write"): a pause to think every ~N words
    "think_s": 1.5,
    "glance_every_words": 3,  # copying ("copy"): a look at the model text every ~N words
    "glance_s": 1.0,
    "trace_s": 4.0,  # tracing ("trace": spirals, lines): median pen-down time of one figure
    "pen_rate": 1.0,  # speed factor on all pen timing (2.0 = twice as fast)
    "barrel_hold_N": 2.0,  # both pads, holding the pen with no tip force
    "barrel_coupling": 1.0,  # extra barrel force (both pads) per newton of tip force
    "barrel_share_a": 0.55,  # pad a (thumb side); pad b (index side) has the rest
    "barrel_var": 0.08,  # slow relative wander of the holding force
    "barrel_rest_frac": 0.2,  # holding force during a pen "rest", relative
    "pen_force_pct_per_min": 0.5,  # fatigue, per minute of writing
    "pen_cv_pct_per_min": 1.0,
    "pen_rate_pct_per_min": -0.5,
    "barrel_pct_per_min": 1.0,
    "pen_recovery_s": 120.0,  # fatigue recovers with this time constant during a rest
    "pen_fatigue_max_min": 30.0,
    "tremor_hz": 10.0,  # physiological tremor
    "tremor_pen_N": 0.03,  # RMS, on the tip force while the pen is down
    "tremor_grip_pct": 0.5,  # RMS, % of grip force
    "path_tremor_hz": 5.5,  # pathological tremor, off unless given an amplitude
    "path_tremor_pen_N": 0.0,
    "path_tremor_grip_pct": 0.0,
    "grip_right_N": 130.0,
    "grip_left_N": 120.0,
    "grip_trial_cv": 0.04,  # trial-to-trial variation of a maximal peak
    "grip_rise_s": 0.6,  # median rise, onset to peak
    "grip_release_s": 0.3,
    "trial_hold_s": 3.0,
    "trial_rest_s": 10.0,  # between the trials of one ("trial", hand, n) segment
    "repeat_hold_s": 2.5,
    "repeat_rest_s": 5.0,
    "grip_fatigue_floor": 0.35,  # capacity = floor + (1 - floor) exp(-E / tau), E in seconds
    "grip_fatigue_tau_s": 20.0,  # of maximal effort, recovering between squeezes with
    "grip_recovery_s": 30.0,  # this time constant
    "grip_steady_pct": 3.0,  # RMS wander (0.5-4 Hz) of any held grip force, % of force
    "target_rise_s": 1.0,
    "target_drift_pct_per_s": -0.3,
    "target_window_frac": 0.5,  # central part of a held target used for steadiness
}

_PEN = ("write", "copy", "trace")
_GRIP = ("trial", "hold", "repeated", "target")
_HANDS = ("right", "left")
_NVALS = {
    "rest": 1,
    "write": 1,
    "copy": 1,
    "trace": 1,
    "trial": 2,
    "hold": 2,
    "repeated": 2,
    "target": 3,
}


def pen_demo():
    # Writes continuously (a scenario repeats after its last segment).
    return [("write", 600.0)]


def grip_demo():
    # ASHT-style 3 trials per hand, alternating; a sustained hold; repeated squeezes; a held
    # target at 50% of the best peak; then it all again.
    s = [("rest", 2.0)]
    for i in range(6):
        s += [("trial", _HANDS[i % 2], 1), ("rest", 5.0)]
    s += [("rest", 5.0), ("hold", "right", 10.0), ("rest", 20.0), ("repeated", "right", 10)]
    return s + [("rest", 20.0), ("target", "right", 0.5, 8.0), ("rest", 10.0)]


def _mix32(x):
    # lowbias32, a 32-bit integer hash: spreads (seed, stream) over the state space.
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


class XorShift32:
    # Marsaglia's xorshift32. Integer-only, so every interpreter gives the same numbers.

    def __init__(self, seed=1, stream=0):
        self.s = _mix32(_mix32(int(seed) & _M32) ^ ((int(stream) * 0x9E3779B9) & _M32)) or 1
        self._spare = None

    def next32(self):
        x = self.s
        x ^= (x << 13) & _M32
        x ^= x >> 17
        x ^= (x << 5) & _M32
        self.s = x
        return x

    def random(self):
        # Uniform on the open interval (0, 1): the state is never 0.
        return self.next32() / 4294967296.0

    def randint(self, a, b):
        a = int(a)
        return a + self.next32() % (max(a, int(b)) - a + 1)

    def gauss(self):
        # Standard normal (Box-Muller; the second value of each pair is kept for the next call).
        z = self._spare
        if z is not None:
            self._spare = None
            return z
        r = math.sqrt(-2.0 * math.log(self.random()))
        a = 2.0 * _PI * self.random()
        self._spare = r * math.sin(a)
        return r * math.cos(a)

    def dur(self, median, sigma):
        # A log-normal duration around `median`, clamped to [median / 3, 3 median].
        return median * math.exp(max(-1.0986, min(1.0986, sigma * self.gauss())))

    def unit(self, cv):
        # A positive factor with mean 1 and coefficient of variation `cv` (log-normal).
        s2 = math.log(1.0 + cv * cv)
        return math.exp(math.sqrt(s2) * max(-4.0, min(4.0, self.gauss())) - 0.5 * s2)


def _tones(rng, lo, hi, n, rms):
    # n sinusoids at log-uniform random frequencies in [lo, hi] Hz with random phases; their
    # sum has the given RMS. The draws are made even when rms is 0, so switching a component
    # off leaves every other random shape of the student as it was.
    out = []
    a = rms * math.sqrt(2.0 / n)
    for _ in range(n):
        w = 2.0 * _PI * lo * math.exp(rng.random() * math.log(hi / lo))
        ph = 2.0 * _PI * rng.random()
        if a > 0.0:
            out.append((a, w, ph))
    return out


def _sum(tones, t):
    v = 0.0
    for a, w, ph in tones:
        v += a * math.sin(w * t + ph)
    return v


def _pos(x):
    return isinstance(x, (int, float)) and x > 0


def _seg(s):
    # One scenario segment, validated, as a tuple.
    k = s[0] if isinstance(s, (tuple, list)) and s else None
    n = _NVALS.get(k) if isinstance(k, str) else None
    ok = n is not None and len(s) == n + 1
    if ok and n == 1:
        ok = _pos(s[1])
    elif ok:
        ok = s[1] in _HANDS
        if k in ("trial", "repeated"):
            ok = ok and isinstance(s[2], int) and s[2] >= 1
        else:
            ok = ok and _pos(s[2]) and (k == "hold" or (s[2] <= 1 and _pos(s[3])))
    if not ok:
        raise ValueError("scenario: bad segment " + repr(s))
    return tuple(s)


def _split(scenario):
    # (pen segments, grip segments) from None, one list, or {"pen": [...], "grip": [...]}.
    if isinstance(scenario, dict):
        for k in scenario:
            if k not in ("pen", "grip"):
                raise ValueError("scenario: unknown key " + repr(k))
        pen, grip = scenario.get("pen"), scenario.get("grip")
    elif scenario is None:
        pen = grip = None
    else:
        kinds = [_seg(s)[0] for s in scenario]
        is_pen = [k in _PEN for k in kinds]
        is_grip = [k in _GRIP for k in kinds]
        if any(is_pen) and any(is_grip):
            raise ValueError("scenario: mixes pen and grip segments: pass a dict")
        pen = None if any(is_grip) else scenario
        grip = None if any(is_pen) else scenario
    pen = [_seg(s) for s in (pen_demo() if pen is None else pen)]
    grip = [_seg(s) for s in (grip_demo() if grip is None else grip)]
    if not pen or not grip:
        raise ValueError("scenario: empty")
    return pen, grip


def _welford(acc, x, i=0):
    # acc[i:i+3] = n, mean, m2
    n = acc[i] + 1
    d = x - acc[i + 1]
    acc[i] = n
    acc[i + 1] += d / n
    acc[i + 2] += d * (x - acc[i + 1])
    return d


def _stats(n, mean, m2):
    # (mean, population SD, CV %), or Nones when there is nothing.
    if n <= 0:
        return None, None, None
    sd = math.sqrt(m2 / n) if m2 > 0.0 else 0.0
    return mean, sd, (100.0 * sd / mean if mean > 0.0 else None)


def _blk(minute):
    # minute, n_down, mean, m2 (tip over pen-down samples), strokes, lifts,
    # down_s, air_s, rest_s, barrel (a+b) sum and pad-a sum over pen-down samples
    return [minute, 0, 0.0, 0.0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0]


def _none(x):
    return None if x != x else x


class Student:
    def __init__(self, seed=1, profile=None, scenario=None):
        p = DEFAULTS  # shared, read-only, unless traits are given
        if profile:
            p = dict(DEFAULTS)
            for k in profile:
                if k not in DEFAULTS:
                    raise ValueError("profile: unknown trait " + repr(k))
                p[k] = profile[k]
        self.seed = int(seed)
        self.p = p
        self._psegs, self._gsegs = _split(scenario)
        self._init_pen()
        self._init_grip()

    # ---------------------------------------------------------------- pen
    def _init_pen(self):
        p = self.p
        self._prng = XorShift32(self.seed, 1)
        rng = XorShift32(self.seed, 2)
        f, g = p["tremor_hz"], p["path_tremor_hz"]
        self._ptrem = _tones(rng, f * 0.94, f * 1.06, 3, p["tremor_pen_N"])
        self._ptrem += _tones(rng, g * 0.96, g * 1.04, 3, p["path_tremor_pen_N"])
        self._pslow = _tones(rng, 0.04, 0.25, 3, p["barrel_var"])
        self._pt = 0.0  # last t asked
        self._pseg = -1  # segment: index, start, end, kind, barrel level and the one before
        self._ps0 = self._ps1 = 0.0
        self._pkind = "rest"
        self._ph = self._ph0 = p["barrel_rest_frac"]
        self._fm = 0.0  # fatigue, in minutes of writing
        self._wleft = self._wcount = 0  # strokes left in the word, words left to a pause
        self._pk = _GAP  # the current item: kind, start, end, fatigue, stroke shape
        self._pe0 = self._pe1 = self._pfm = 0.0
        self._pD = self._pr = 1.0
        self._pL = self._pa = self._pb = 0.0
        self._pn = 0  # truth
        self._pprev = -1.0
        self._pst = _REST
        self._pdown = False
        self._tot = _blk(0.0)
        self._bc = _blk(-1.0)
        self._bins = array("d")
        self._bins_dropped = 0
        self._stroke = [0, 0.0, 0.0]
        self._between = [0, 0.0, 0.0]
        self._within = [0, 0.0]  # completed strokes, sum of their CV %
        self._bmean = self._bm2 = self._cxy = 0.0  # barrel moments, tip-barrel co-moment

    def _pen_seg(self):
        self._pseg = (self._pseg + 1) % len(self._psegs)
        kind, d = self._psegs[self._pseg]
        self._ps0 = self._ps1
        self._ps1 += d
        self._pkind = kind
        self._ph0 = self._ph
        self._pk = _GAP  # a writing segment starts with a stroke
        if kind == "rest":
            self._ph = self.p["barrel_rest_frac"]
        else:
            self._ph = 1.0
            self._word()
            self._wcount = self._every()

    def _word(self):
        n = self.p["word_strokes"]
        self._wleft = self._prng.randint(max(1, n - 3), n + 3)

    def _every(self):
        n = self.p["glance_every_words" if self._pkind == "copy" else "think_every_words"]
        return self._prng.randint(max(1, n - 1), n + 1)

    def _pen_next(self):
        # The next item (a stroke, or time in the air) from where the last one ended.
        t0 = self._pe1
        if t0 >= self._ps1:
            self._pen_seg()
        p, rng, end, fm = self.p, self._prng, self._ps1, self._fm
        self._pfm = fm
        self._pe0 = t0
        if self._pkind == "rest":
            self._pk = _GAP
            self._pe1 = end
            self._fm = fm * math.exp(-(end - t0) / p["pen_recovery_s"])
            return
        rate = p["pen_rate"] * max(0.25, 1.0 + p["pen_rate_pct_per_min"] * fm / 100.0)
        if self._pk == _STROKE:
            self._pk = _GAP
            if self._wleft > 0 or self._pkind == "trace":
                d = rng.dur(p["lift_s"], 0.5)
            else:
                d = rng.dur(p["word_gap_s"], 0.35)
                self._wcount -= 1
                if self._wcount <= 0:
                    d += rng.dur(p["glance_s" if self._pkind == "copy" else "think_s"], 0.4)
                    self._wcount = self._every()
                self._word()
            d /= rate
        else:
            d = rng.dur(p["trace_s" if self._pkind == "trace" else "stroke_s"], 0.35) / rate
            if t0 + d < end:
                self._pk = _STROKE
                self._wleft -= 1
                r = min(p["pen_ramp_s"], d / 3.0)
                cvx = 1.0 + p["pen_cv_pct_per_min"] * fm / 100.0
                level = p["pen_force_N"] * (1.0 + p["pen_force_pct_per_min"] * fm / 100.0)
                level *= rng.unit(p["pen_between_cv"] * cvx)
                self._pD = d
                self._pr = r
                self._pL = level * d / (d - r)  # the ramps lower the mean: lift the plateau
                self._pa = p["pen_within_cv"] * cvx * rng.gauss()
                self._pb = p["pen_within_cv"] * cvx * rng.gauss()
        self._pe1 = min(end, t0 + d)
        self._fm = min(p["pen_fatigue_max_min"], fm + (self._pe1 - t0) / 60.0)

    def pen(self, t):
        # (tip, barrel_a, barrel_b) in newtons at t seconds.
        if t < self._pt or t < 0:
            raise ValueError("pen: t must be >= 0 and non-decreasing")
        self._pt = t
        while t >= self._pe1:
            self._pen_next()
        p = self.p
        tip = 0.0
        tau = t - self._pe0
        D = self._pD
        if self._pk == _STROKE and 0.0 < tau < D:
            r = self._pr
            e = 1.0
            if tau < r:
                e = 0.5 - 0.5 * math.cos(_PI * tau / r)
            elif tau > D - r:
                e = 0.5 - 0.5 * math.cos(_PI * (D - tau) / r)
            u = _PI * tau / D
            m = self._pa * math.cos(u) + self._pb * math.sin(2.0 * u)
            base = self._pL * (1.0 + max(-0.8, m))
            tip = e * (base + max(-0.8 * base, _sum(self._ptrem, t)))
        # barrel: a holding force (slow wander, growing with fatigue) plus coupling to the tip
        h = self._ph
        since = t - self._ps0
        if since < 0.5:
            h = self._ph0 + (h - self._ph0) * (0.5 - 0.5 * math.cos(_PI * since / 0.5))
        g = p["barrel_hold_N"] * h * (1.0 + p["barrel_pct_per_min"] * self._pfm / 100.0)
        g = g * (1.0 + _sum(self._pslow, t)) + p["barrel_coupling"] * tip
        a = p["barrel_share_a"] * g
        b = g - a
        self._pen_acc(t, tip, a, b)
        return (tip, a, b)

    def _pen_acc(self, t, tip, a, b):
        self._pn += 1
        tot = self._tot
        if self._pprev >= 0.0:
            dt = t - self._pprev
            tot[6 + self._pst] += dt
            self._bc[6 + self._pst] += dt
        minute = float(int(t / 60.0))
        if minute != self._bc[0]:
            self._bin_close()
            self._bc = _blk(minute)
        down = tip > 0.0
        new = down and not self._pdown
        end = self._pdown and not down
        for blk in (tot, self._bc):
            if down:
                _welford(blk, tip, 1)
                blk[9] += a + b
                blk[10] += a
            if new:
                blk[4] += 1
            if end:
                blk[5] += 1
        if down:
            db = self._barrel_moment(a + b, tot[1])
            self._cxy += (tip - tot[2]) * db
            if new:
                self._stroke = [0, 0.0, 0.0]
            _welford(self._stroke, tip)
            self._pst = _DOWN
        else:
            if end:
                self._stroke_close()
            self._pst = _REST if self._pkind == "rest" else _AIR
        self._pdown = down
        self._pprev = t

    def _barrel_moment(self, g, n):
        db = g - self._bmean
        self._bmean += db / n
        self._bm2 += db * (g - self._bmean)
        return db

    def _stroke_close(self):
        s = self._stroke
        if s[0]:
            _welford(self._between, s[1])
            cv = _stats(*s)[2]
            if cv is not None:
                self._within[0] += 1
                self._within[1] += cv
        self._stroke = [0, 0.0, 0.0]

    def _bin_close(self):
        if self._bc[0] < 0.0:
            return
        if len(self._bins) >= _BF * _MAX_BINS:
            self._bins = self._bins[_BF:]
            self._bins_dropped += 1
        self._bins.extend(array("d", self._bc))

    def _blk_dict(self, v, complete):
        n = int(v[1])
        mean, sd, cv = _stats(n, v[2], v[3])
        writing = v[6] + v[7]
        return {
            "minute": int(v[0]),
            "complete": complete,
            "n_down": n,
            "mean_tip_N": mean,
            "sd_tip_N": sd,
            "cv_tip_pct": cv,
            "strokes": int(v[4]),
            "lifts": int(v[5]),
            "pen_down_s": v[6],
            "in_air_s": v[7],
            "rest_s": v[8],
            "strokes_per_min": 60.0 * v[4] / writing if writing > 0.0 else None,
            "barrel_N": v[9] / n if n else None,
            "barrel_a_N": v[10] / n if n else None,
            "barrel_b_N": (v[9] - v[10]) / n if n else None,
        }

    def _pen_truth(self):
        out = self._blk_dict(self._tot, True)
        del out["minute"], out["complete"]
        between = list(self._between)  # counting the stroke in progress too
        within = list(self._within)
        s = self._stroke
        if self._pdown and s[0]:
            _welford(between, s[1])
            cv = _stats(*s)[2]
            if cv is not None:
                within[0] += 1
                within[1] += cv
        n, m2 = self._tot[1], self._tot[3]
        r = None
        if n > 1 and m2 > 0.0 and self._bm2 > 0.0:
            r = self._cxy / math.sqrt(m2 * self._bm2)
        bins = [
            self._blk_dict(self._bins[i : i + _BF], True) for i in range(0, len(self._bins), _BF)
        ]
        if self._bc[0] >= 0.0:
            bins.append(self._blk_dict(self._bc, False))
        out["n_samples"] = self._pn
        out["t_last_s"] = self._pprev if self._pn else None
        out["between_stroke_cv_pct"] = _stats(*between)[2]
        out["within_stroke_cv_pct"] = within[1] / within[0] if within[0] else None
        out["tip_barrel_r"] = r
        out["fatigue_min"] = self._fm
        out["bins_dropped"] = self._bins_dropped
        out["bins"] = bins
        return out

    # ---------------------------------------------------------------- grip
    def _init_grip(self):
        p = self.p
        self._grng = XorShift32(self.seed, 3)
        rng = XorShift32(self.seed, 4)
        f, g = p["tremor_hz"], p["path_tremor_hz"]
        # relative fluctuation of any held force: slow wander plus tremor
        self._gfl = _tones(rng, 0.5, 4.0, 5, p["grip_steady_pct"] / 100.0)
        self._gfl += _tones(rng, f * 0.94, f * 1.06, 3, p["tremor_grip_pct"] / 100.0)
        self._gfl += _tones(rng, g * 0.96, g * 1.04, 3, p["path_tremor_grip_pct"] / 100.0)
        self._gP = (float(p["grip_right_N"]), float(p["grip_left_N"]))
        self._gE = [0.0, 0.0]  # per hand: effort (s of maximal squeezing) as of _gEt
        self._gEt = [0.0, 0.0]
        self._gbest = [0.0, 0.0]  # per hand: best noise-free peak so far (target reference)
        self._gt = 0.0
        self._gseg = -1
        self._gleft = 0  # squeezes left in this segment, and the gap before the next
        self._ggap = 0.0
        self._gsv = None
        self._ggroup = 0.0  # start of the current repeated-squeeze segment
        self._gk = _NONE  # the current item
        self._ge0 = self._ge1 = 0.0
        self._gh = 0
        self._gTr = self._gTh = self._gTl = 1.0
        self._gA = self._gE0 = self._gc0 = self._gH = self._gdrift = 0.0
        self._gw0 = self._gw1 = 0.0
        self._gn = 0  # truth
        self._gprev = None
        self._q = None
        self._rows = array("d")
        self._rows_dropped = 0

    def _cap(self, E):
        a = self.p["grip_fatigue_floor"]
        return a + (1.0 - a) * math.exp(-E / self.p["grip_fatigue_tau_s"])

    def _grip_next(self):
        t0 = self._ge1
        if self._gk != _NONE:
            self._row_close()
        self._gk = _NONE
        self._ge0 = t0
        while True:
            if self._ggap > 0.0:
                self._ge1 = t0 + self._ggap
                self._ggap = 0.0
                return
            if self._gleft > 0:
                self._gleft -= 1
                self._open(t0)
                if self._gleft:
                    self._ggap = self.p[
                        "trial_rest_s" if self._gsv[0] == "trial" else "repeat_rest_s"
                    ]
                return
            self._gseg = (self._gseg + 1) % len(self._gsegs)
            seg = self._gsv = self._gsegs[self._gseg]
            if seg[0] == "rest":
                self._ggap = seg[1]
            else:
                self._gleft = seg[2] if seg[0] in ("trial", "repeated") else 1
                self._ggroup = t0

    def _open(self, t0):
        # A squeeze: raised-cosine rise, a hold that declines with fatigue (or drifts, for a
        # target), raised-cosine release.
        p, rng, seg = self.p, self._grng, self._gsv
        kind = _GRIP.index(seg[0])
        h = _HANDS.index(seg[1])
        P = self._gP[h]
        E0 = self._gE[h] * math.exp(-(t0 - self._gEt[h]) / p["grip_recovery_s"])
        c0 = self._cap(E0)
        Tl = rng.dur(p["grip_release_s"], 0.2)
        if kind == _TARGET:
            Tr = p["target_rise_s"]
            Th = seg[3]
            A = seg[2] * (self._gbest[h] or P)
            effort = (0.5 * Tr + Th + 0.5 * Tl) * (A / P) ** 2
        else:
            Tr = rng.dur(p["grip_rise_s"], 0.25)
            Th = (
                seg[2]
                if kind == _HOLD
                else p["trial_hold_s" if kind == _TRIAL else "repeat_hold_s"]
            )
            A = P * c0 * rng.unit(p["grip_trial_cv"])
            self._gbest[h] = max(self._gbest[h], A)
            effort = 0.5 * Tr + Th + 0.5 * Tl
        self._gk, self._gh, self._gTr, self._gTh, self._gTl = kind, h, Tr, Th, Tl
        self._gA, self._gE0, self._gc0 = A, E0, c0
        self._gdrift = p["target_drift_pct_per_s"] / 100.0
        self._gH = A * self._decline(Th)
        self._ge1 = t0 + Tr + Th + Tl
        self._gE[h] = E0 + effort
        self._gEt[h] = self._ge1
        hold0 = t0 + Tr
        if kind == _TARGET:
            half = 0.5 * p["target_window_frac"] * Th
            self._gw0, self._gw1 = hold0 + 0.5 * Th - half, hold0 + 0.5 * Th + half
        else:  # the last 3 s of the hold
            self._gw0, self._gw1 = max(hold0, hold0 + Th - 3.0), hold0 + Th
        # n, peak, t_peak, fr50, then sums over the window of x = t - w0, y = f - A:
        # n, x, y, xx, yy, xy
        self._q = [0, -1.0, t0, _NAN, 0, 0.0, 0.0, 0.0, 0.0, 0.0]

    def _decline(self, x):
        # The hold's force x seconds in, relative to its start.
        if self._gk == _TARGET:
            return 1.0 + self._gdrift * x
        return self._cap(self._gE0 + x) / self._gc0

    def grip(self, t):
        # Grip force in newtons at t seconds.
        if t < self._gt or t < 0:
            raise ValueError("grip: t must be >= 0 and non-decreasing")
        self._gt = t
        while t >= self._ge1:
            self._grip_next()
        self._gn += 1
        self._gprev = t
        if self._gk == _NONE:
            return 0.0
        tau = t - self._ge0
        Tr, Th = self._gTr, self._gTh
        f = self._force(t)
        q = self._q
        q[0] += 1
        if f > q[1]:
            q[1] = f
            q[2] = t
        if self._gw0 <= t < self._gw1:
            x = t - self._gw0
            y = f - self._gA
            q[4] += 1
            q[5] += x
            q[6] += y
            q[7] += x * x
            q[8] += y * y
            q[9] += x * y
        if self._gk == _HOLD and q[3] != q[3] and Tr <= tau < Tr + Th and f <= 0.5 * q[1]:
            q[3] = t - q[2]
        return f

    def _force(self, t):
        # The current squeeze's force at t, no side effects: the profile times (1 + wander).
        tau = t - self._ge0
        Tr, Th = self._gTr, self._gTh
        if tau <= 0.0:
            s = 0.0
        elif tau < Tr:
            s = self._gA * (0.5 - 0.5 * math.cos(_PI * tau / Tr))
        elif tau < Tr + Th:
            s = self._gA * self._decline(tau - Tr)
        else:
            s = self._gH * (0.5 + 0.5 * math.cos(_PI * (tau - Tr - Th) / self._gTl))
        return max(0.0, s * (1.0 + _sum(self._gfl, t))) if s > 0.0 else 0.0

    def _first_reach(self, level, t_end):
        # When the force produced (wander included; not its samples) first reaches level
        # between the squeeze's start and t_end: 1 ms steps, then bisection to ~1 us. NaN if
        # it does not.
        a = self._ge0
        while a < t_end:
            b = min(a + 0.001, t_end)
            if self._force(b) >= level:
                for _ in range(10):
                    m = 0.5 * (a + b)
                    if self._force(m) >= level:
                        b = m
                    else:
                        a = m
                return 0.5 * (a + b)
            a = b
        return _NAN

    def _row(self):
        # The squeeze in progress as a row of _GF numbers (NaN for absent values): kind, hand,
        # start, rise, hold, release, noise-free peak, n, peak, t_peak, then for a hold: mean of
        # the last 3 s, FR50; for a target: window mean, SD, detrended SD; last: the repeated
        # segment's start, or the target's fraction; the number of samples in the window; for
        # a trial or hold: when the force produced first reaches 2.5, 20 and 80% of the peak.
        q = self._q
        a = b = c = _NAN
        n = q[4]
        if n:
            sx, sy, sxx, syy, sxy = q[5], q[6], q[7], q[8], q[9]
            a = self._gA + sy / n
            b = q[3]
            if self._gk == _TARGET:
                cyy = max(0.0, syy - sy * sy / n)
                cxx = sxx - sx * sx / n
                rss = cyy - (sxy - sx * sy / n) ** 2 / cxx if cxx > 0.0 else cyy
                b = math.sqrt(cyy / n)
                c = math.sqrt(max(0.0, rss) / n)
        last = self._gsv[2] if self._gk == _TARGET else self._ggroup
        g = [self._gk, self._gh, self._ge0, self._gTr, self._gTh, self._gTl, self._gA]
        on = t20 = t80 = _NAN
        if self._gk in (_TRIAL, _HOLD) and q[1] > 0.0:
            on, t20, t80 = [self._first_reach(x * q[1], q[2]) for x in (0.025, 0.2, 0.8)]
        return g + [q[0], q[1], q[2], a, b, c, last, n, on, t20, t80]

    def _row_close(self):
        if self._q[0]:
            if len(self._rows) >= _GF * _MAX_ROWS:
                self._rows = self._rows[_GF:]
                self._rows_dropped += 1
            self._rows.extend(array("d", self._row()))
        self._q = None

    def _rec(self, v):
        kind = int(v[0])
        t0, Tr, A, peak = v[2], v[3], v[6], v[8]
        r = {"hand": _HANDS[int(v[1])], "t_start_s": t0, "rise_s": Tr, "peak_smooth_N": A}
        r["n"] = int(v[7])
        r["peak_N"] = peak
        r["t_peak_s"] = v[9]
        if kind in (_TRIAL, _HOLD):
            # when the force produced (wander included) first reaches 2.5, 20 and 80% of its
            # sampled peak: the wander changes the rise's slope, so the noise-free curve's
            # crossings and A are not the squeeze's
            on, t20, t80 = v[15], v[16], v[17]
            r["t_onset_s"] = on
            r["t20_s"] = t20
            r["t80_s"] = t80
            r["rise_20_80_s"] = t80 - t20
            r["rfd_20_80_N_per_s"] = 0.6 * peak / (t80 - t20)
            r["time_to_peak_s"] = v[9] - on
        if kind == _HOLD:
            m3 = _none(v[10])
            r["hold_s"] = v[4]
            r["mean_last3_N"] = m3
            r["fatigue_index_pct"] = None if m3 is None else 100.0 * (peak - m3) / peak
            r["fr50_s"] = _none(v[11])
        elif kind == _TARGET:
            r["fraction"] = v[13]
            r["target_N"] = A
            r["hold_s"] = v[4]
            h0 = t0 + Tr
            half = 0.5 * self.p["target_window_frac"] * v[4]
            r["window_s"] = [h0 + 0.5 * v[4] - half, h0 + 0.5 * v[4] + half]
            r["n_window"] = int(v[14])
            m = _none(v[10])
            r["mean_N"] = m
            r["sd_N"] = _none(v[11])
            r["sd_detrended_N"] = _none(v[12])
            ok = m is not None and m > 0.0
            r["cv_pct"] = 100.0 * v[11] / m if ok else None
            r["cv_detrended_pct"] = 100.0 * v[12] / m if ok else None
        return r

    def _grip_truth(self):
        rows = [self._rows[i : i + _GF] for i in range(0, len(self._rows), _GF)]
        if self._q is not None and self._q[0]:
            rows.append(self._row())
        out = {"trials": [], "holds": [], "repeated": [], "targets": []}
        lists = (out["trials"], out["holds"], None, out["targets"])
        reps = out["repeated"]
        for v in rows:
            r = self._rec(v)
            if v is rows[-1] and self._q is not None and self._q[0]:
                r["in_progress"] = True
            if int(v[0]) != _REP:
                lists[int(v[0])].append(r)
                continue
            if not reps or reps[-1]["t_start_s"] != v[13]:
                reps.append({"hand": r["hand"], "t_start_s": v[13], "peaks_N": [], "t_peaks_s": []})
            reps[-1]["peaks_N"].append(v[8])
            reps[-1]["t_peaks_s"].append(v[9])
        for g in reps:
            pk = g["peaks_N"]
            best = max(pk[:3])
            g["fatigue_index_pct"] = (
                100.0 * (best - sum(pk[-3:]) / 3.0) / best if len(pk) >= 3 else None
            )
        summary = {}
        for hand in _HANDS:
            pk = [r["peak_N"] for r in out["trials"] if r["hand"] == hand]
            if pk:
                last = pk[-3:]
                summary[hand] = {
                    "n": len(pk),
                    "max_N": max(pk),
                    "mean_last3_N": sum(last) / len(last),
                }
        out["trial_summary"] = summary
        out["n_samples"] = self._gn
        out["t_last_s"] = self._gprev
        out["rows_dropped"] = self._rows_dropped
        return out

    # ---------------------------------------------------------------- both
    def truth(self):
        # What a perfect measurement of the samples asked for so far would report, with the
        # traits and scenario that generated them.
        return {
            "version": VERSION,
            "seed": self.seed,
            "profile": dict(self.p),
            "scenario": {
                "pen": [list(s) for s in self._psegs],
                "grip": [list(s) for s in self._gsegs],
            },
            "pen": self._pen_truth(),
            "grip": self._grip_truth(),
        }
