"""The simulated student (firmware/sim/student.py): its signal, its truth, and its footprint.

The same module runs under CPython (here, to check the signal against the truth it reports and
against the traits it was given) and under MicroPython (to check it gives the very same numbers
and fits the firmware's heap).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from scipy import signal as sps

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "firmware" / "sim"
MPY = Path(__file__).resolve().parent / "mpy"
HEAP = "128k"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sim_student", SIM / "student.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


student = _load()
Student = student.Student


class Run:
    """A student sampled at a fixed rate: arrays of t, tip, barrel a/b, grip, and the truth."""

    def __init__(
        self,
        seconds: float,
        rate: int = 200,
        seed: int = 1,
        profile: dict[str, Any] | None = None,
        scenario: Any = None,
        pen: bool = True,
        grip: bool = True,
    ) -> None:
        s = Student(seed=seed, profile=profile, scenario=scenario)
        n = int(seconds * rate)
        self.t = np.arange(n) / rate
        pens = np.zeros((n, 3))
        grips = np.zeros(n)
        for i in range(n):
            t = i / rate
            if pen:
                pens[i] = s.pen(t)
            if grip:
                grips[i] = s.grip(t)
        self.tip, self.a, self.b = pens.T
        self.grip = grips
        self.truth = s.truth()
        self.student = s


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index pairs of the runs of True in mask."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def close(a: float | None, b: float, rel: float = 1e-9) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def slope_pct_per_min(values: list[float]) -> float:
    """Least-squares slope of per-minute values, as % of the fitted first minute per minute."""
    x = np.arange(len(values))
    k, c = np.polyfit(x, values, 1)
    return float(100.0 * k / c)


# ---------------------------------------------------------------- determinism


def test_same_seed_same_signal_other_seed_another() -> None:
    one, again, other = Run(20, seed=4), Run(20, seed=4), Run(20, seed=5)
    for name in ("tip", "a", "b", "grip"):
        assert np.array_equal(getattr(one, name), getattr(again, name))
        assert not np.allclose(getattr(one, name), getattr(other, name))
    assert one.truth == again.truth


def test_signal_does_not_depend_on_when_it_is_sampled() -> None:
    # 200 Hz against 1 kHz, and against irregular instants: equal wherever both were sampled.
    slow, fast = Run(30, rate=200, seed=9), Run(30, rate=1000, seed=9)
    for name in ("tip", "a", "b", "grip"):
        assert np.array_equal(getattr(slow, name), getattr(fast, name)[::5])
    s = Student(seed=9)
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(slow.t), 500, replace=False))
    for i in idx:
        assert s.pen(i / 200) == (slow.tip[i], slow.a[i], slow.b[i])
        assert s.grip(i / 200) == slow.grip[i]


def test_xorshift_is_marsaglias_and_the_seeding_is_pinned() -> None:
    r = student.XorShift32()
    r.s = 2463534242  # the example state of Marsaglia (2003), "Xorshift RNGs", J. Stat. Softw.
    assert r.next32() == 723471715
    # pinned, so a seed names the same student from one version to the next
    r = student.XorShift32(seed=1, stream=0)
    assert [r.next32() for _ in range(3)] == [3400114840, 564224325, 3165730721]


def test_xorshift_streams_are_independent_and_uniform() -> None:
    a, b = student.XorShift32(1, 1), student.XorShift32(1, 2)
    xa = np.array([a.random() for _ in range(20000)])
    xb = np.array([b.random() for _ in range(20000)])
    assert xa.min() > 0.0 and xa.max() < 1.0
    assert abs(xa.mean() - 0.5) < 0.01 and abs(xa.var() - 1 / 12) < 0.003
    assert abs(np.corrcoef(xa, xb)[0, 1]) < 0.03
    g = np.array([a.gauss() for _ in range(20000)])
    assert abs(g.mean()) < 0.03 and abs(g.std() - 1.0) < 0.03


def test_time_must_not_go_back_and_traits_must_exist() -> None:
    s = Student()
    s.pen(1.0)
    with pytest.raises(ValueError):
        s.pen(0.5)
    s.grip(2.0)
    with pytest.raises(ValueError):
        s.grip(1.0)
    with pytest.raises(ValueError):
        Student(profile={"pen_force": 2.0})


@pytest.mark.parametrize(
    "scenario",
    [
        [("write",)],
        [("write", 0.0)],
        [("trial", "middle", 1)],
        [("trial", "right", 0)],
        [("target", "right", 1.5, 8.0)],
        [("swim", 3.0)],
        [("write", 10.0), ("trial", "right", 1)],
        {"pen": [("write", 1.0)], "other": []},
        [],
    ],
)
def test_bad_scenarios_are_refused(scenario: Any) -> None:
    with pytest.raises(ValueError):
        Student(scenario=scenario)


def test_truth_is_plain_json() -> None:
    r = Run(200, seed=2)
    back = json.loads(json.dumps(r.truth, allow_nan=False))
    assert back["scenario"]["grip"][1] == ["trial", "right", 1]
    assert back["profile"] == student.DEFAULTS
    assert back["version"] == student.VERSION


# ---------------------------------------------------------------- pen


@pytest.fixture(scope="module")
def pen_run() -> Run:
    steady = {"pen_force_pct_per_min": 0.0, "pen_cv_pct_per_min": 0.0, "pen_rate_pct_per_min": 0.0}
    return Run(300, seed=21, profile=steady, grip=False)


def test_pen_truth_is_what_the_samples_show(pen_run: Run) -> None:
    r, pen = pen_run, pen_run.truth["pen"]
    down = r.tip > 0
    tip = r.tip[down]
    assert pen["n_samples"] == len(r.t)
    assert pen["n_down"] == down.sum()
    assert close(pen["mean_tip_N"], tip.mean())
    assert close(pen["sd_tip_N"], tip.std())
    assert close(pen["cv_tip_pct"], 100 * tip.std() / tip.mean())
    strokes = runs(down)
    assert pen["strokes"] == len(strokes)
    assert pen["lifts"] == len(strokes) - (1 if down[-1] else 0)
    dt = np.diff(r.t)
    assert close(pen["pen_down_s"], dt[down[:-1]].sum())
    assert close(pen["in_air_s"], dt[~down[:-1]].sum())
    assert pen["rest_s"] == 0.0
    means = np.array([r.tip[i:j].mean() for i, j in strokes])
    cvs = np.array([100 * r.tip[i:j].std() / r.tip[i:j].mean() for i, j in strokes])
    assert close(pen["between_stroke_cv_pct"], 100 * means.std() / means.mean())
    assert close(pen["within_stroke_cv_pct"], cvs.mean())
    grip = (r.a + r.b)[down]
    assert close(pen["barrel_a_N"], r.a[down].mean())
    assert close(pen["barrel_b_N"], r.b[down].mean())
    assert close(pen["tip_barrel_r"], np.corrcoef(tip, grip)[0, 1], rel=1e-7)
    minute = (r.t // 60).astype(int)
    assert [b["minute"] for b in pen["bins"]] == [0, 1, 2, 3, 4]
    for b in pen["bins"]:
        m = (minute == b["minute"]) & down
        assert b["n_down"] == m.sum()
        assert close(b["mean_tip_N"], r.tip[m].mean())
        assert close(b["cv_tip_pct"], 100 * r.tip[m].std() / r.tip[m].mean())
        assert b["strokes"] == sum(1 for i, _ in strokes if minute[i] == b["minute"])
    assert [b["complete"] for b in pen["bins"]] == [True] * 4 + [False]


def test_pen_matches_its_profile(pen_run: Run) -> None:
    p, pen = student.DEFAULTS, pen_run.truth["pen"]
    assert abs(pen["mean_tip_N"] / p["pen_force_N"] - 1) < 0.04
    assert abs(pen["between_stroke_cv_pct"] / (100 * p["pen_between_cv"]) - 1) < 0.15
    # the plateau's modulation plus the touch-down and lift-off ramps
    assert 100 * p["pen_within_cv"] < pen["within_stroke_cv_pct"] < 45
    # ~6 strokes a word, 100-300 ms strokes, 50-400 ms lifts, longer gaps between words
    assert 100 < pen["strokes_per_min"] < 140
    down = runs(pen_run.tip > 0)
    up = runs(pen_run.tip == 0)
    dur_down = np.array([j - i for i, j in down]) / 200
    dur_up = np.array([j - i for i, j in up[1:-1]]) / 200
    assert abs(np.median(dur_down) - p["stroke_s"]) < 0.02
    assert np.percentile(dur_down, 5) > 0.08 and np.percentile(dur_down, 95) < 0.35
    assert 0.04 < np.percentile(dur_up, 5) < 0.1 and 0.12 < np.median(dur_up) < 0.3
    assert np.percentile(dur_up, 95) > 0.5  # word gaps and pauses
    assert 0.3 < pen["pen_down_s"] / (pen["pen_down_s"] + pen["in_air_s"]) < 0.5
    # barrel: harder than the tip, and following it
    assert pen["barrel_N"] > pen["mean_tip_N"] and pen["tip_barrel_r"] > 0.8
    assert abs(pen["barrel_a_N"] / pen["barrel_N"] - p["barrel_share_a"]) < 1e-9


@pytest.mark.parametrize(
    ("profile", "key", "lo", "hi"),
    [
        ({"pen_force_N": 2.5}, "mean_tip_N", 2.4, 2.6),
        ({"pen_between_cv": 0.05, "pen_within_cv": 0.03}, "between_stroke_cv_pct", 4, 7),
        ({"pen_between_cv": 0.40}, "between_stroke_cv_pct", 34, 46),
        ({"pen_rate": 2.0}, "strokes_per_min", 200, 280),
    ],
)
def test_pen_traits_move_what_they_should(
    profile: dict[str, float], key: str, lo: float, hi: float
) -> None:
    profile = {"pen_force_pct_per_min": 0.0, "pen_cv_pct_per_min": 0.0, **profile}
    profile.setdefault("pen_rate_pct_per_min", 0.0)
    assert lo < Run(180, seed=3, profile=profile, grip=False).truth["pen"][key] < hi


def test_fatigue_moves_the_minute_bins_the_configured_way() -> None:
    tired = {"pen_force_pct_per_min": 3.0, "pen_cv_pct_per_min": 5.0, "pen_rate_pct_per_min": -3.0}
    bins = Run(600, seed=8, profile=tired, grip=False).truth["pen"]["bins"][:10]
    assert abs(slope_pct_per_min([b["mean_tip_N"] for b in bins]) - 3.0) < 1.0
    assert abs(slope_pct_per_min([b["strokes_per_min"] for b in bins]) + 3.0) < 1.5
    assert slope_pct_per_min([b["cv_tip_pct"] for b in bins]) > 0.5
    fresh = {"pen_force_pct_per_min": -2.0, "pen_rate_pct_per_min": 2.0}
    bins = Run(600, seed=8, profile=fresh, grip=False).truth["pen"]["bins"][:10]
    assert abs(slope_pct_per_min([b["mean_tip_N"] for b in bins]) + 2.0) < 1.0
    assert slope_pct_per_min([b["strokes_per_min"] for b in bins]) > 0.5


def test_rest_lowers_the_barrel_and_is_not_in_air_time() -> None:
    r = Run(130, seed=5, scenario=[("write", 40.0), ("rest", 30.0), ("copy", 60.0)], grip=False)
    pen = r.truth["pen"]
    assert abs(pen["rest_s"] - 30.0) < 0.01
    assert not (r.tip[(r.t >= 40) & (r.t < 70)] > 0).any()
    resting = (r.a + r.b)[(r.t > 41) & (r.t < 70)]
    holding = (r.a + r.b)[(r.t > 1) & (r.t < 40) & (r.tip == 0)]
    assert resting.mean() < 0.5 * holding.mean()


def _band_power(x: np.ndarray, fs: float, lo: float, hi: float) -> float:
    f, p = sps.welch(x - x.mean(), fs=fs, nperseg=1024)
    return float(p[(f >= lo) & (f <= hi)].sum())


@pytest.mark.parametrize(
    ("hz", "profile"),
    [
        (10.0, {}),
        (8.5, {"tremor_hz": 8.5}),
        (5.5, {"tremor_pen_N": 0.0, "path_tremor_pen_N": 0.1}),
    ],
)
def test_pen_tremor_frequency_shows_in_the_spectrum(hz: float, profile: dict[str, float]) -> None:
    # Tracing gives pen-down segments of seconds, as a tremor spectrum needs (Welch over each
    # segment of 2 s or more, averaged).
    r = Run(120, seed=6, profile=profile, scenario=[("trace", 120.0)], grip=False)
    spectra = []
    for i, j in runs(r.tip > 0):
        if j - i >= 400:
            f, p = sps.welch(sps.detrend(r.tip[i:j]), fs=200, nperseg=256)
            spectra.append(p)
    assert len(spectra) > 10
    p = np.mean(spectra, axis=0)
    band = (f > 3.5) & (f < 15)
    assert abs(f[band][np.argmax(p[band])] - hz) < 0.8


def test_pen_tremor_adds_power_to_free_writing_too() -> None:
    # Strokes put their own power in 3-7 Hz, so a tremor stands out best at 8-12 Hz.
    quiet = Run(120, seed=6, profile={"tremor_pen_N": 0.0}, grip=False)
    shaky = Run(120, seed=6, profile={"tremor_pen_N": 0.25}, grip=False)
    # the strokes are the same: only the tremor differs
    assert np.array_equal(quiet.tip > 0, shaky.tip > 0)
    assert _band_power(shaky.tip, 200, 9, 11) > 1.5 * _band_power(quiet.tip, 200, 9, 11)
    assert _band_power(shaky.tip, 200, 14, 16) < 1.5 * _band_power(quiet.tip, 200, 14, 16)


# ---------------------------------------------------------------- grip


@pytest.fixture(scope="module")
def grip_run() -> Run:
    return Run(200, seed=12, pen=False)


def _squeeze(r: Run, rec: dict[str, Any]) -> np.ndarray:
    """Indices of the samples of one squeeze: from its start until the force is back at 0."""
    i = int(np.searchsorted(r.t, rec["t_start_s"]))
    j = i + 1
    while j < len(r.t) and (r.grip[j] > 0 or r.t[j] < rec["t_peak_s"]):
        j += 1
    return np.arange(i, j)


def test_trial_peaks_are_the_sampled_maxima_and_near_the_profile(grip_run: Run) -> None:
    r, g = grip_run, grip_run.truth["grip"]
    assert [tr["hand"] for tr in g["trials"]] == ["right", "left"] * 3
    for tr in g["trials"]:
        idx = _squeeze(r, tr)
        k = idx[np.argmax(r.grip[idx])]
        assert tr["peak_N"] == r.grip[k] and tr["t_peak_s"] == r.t[k]
        assert tr["n"] == len(idx)
        profile = student.DEFAULTS["grip_" + tr["hand"] + "_N"]
        assert 0.8 * profile < tr["peak_N"] < 1.15 * profile
        # the samples first reach 2.5, 20 and 80% of the peak in the sample period that ends
        # where the truth's crossing of the force produced lies (found to ~1 us)
        for frac, key in ((0.025, "t_onset_s"), (0.2, "t20_s"), (0.8, "t80_s")):
            first = idx[np.argmax(r.grip[idx] >= frac * tr["peak_N"])]
            assert r.t[first - 1] - 1e-5 < tr[key] <= r.t[first] + 1e-5
        assert close(tr["rfd_20_80_N_per_s"], 0.6 * tr["peak_N"] / tr["rise_20_80_s"])
    for hand in ("right", "left"):
        s = g["trial_summary"][hand]
        assert s["max_N"] == max(tr["peak_N"] for tr in g["trials"] if tr["hand"] == hand)


def test_repeated_squeezes_fatigue(grip_run: Run) -> None:
    r, (rep,) = grip_run, grip_run.truth["grip"]["repeated"]
    assert len(rep["peaks_N"]) == 10
    for pk, tp in zip(rep["peaks_N"], rep["t_peaks_s"], strict=True):
        k = int(np.searchsorted(r.t, tp))
        window = r.grip[max(0, k - 400) : k + 400]
        assert pk == r.grip[k] == window.max()
    fi = rep["fatigue_index_pct"]
    assert close(
        fi, 100 * (max(rep["peaks_N"][:3]) - np.mean(rep["peaks_N"][-3:])) / max(rep["peaks_N"][:3])
    )
    assert 8 < fi < 40


def test_effort_carries_over_from_squeeze_to_squeeze() -> None:
    r = Run(100, seed=16, pen=False, scenario=[("rest", 1.0), ("repeated", "right", 10)])
    pk = np.array(r.truth["grip"]["repeated"][0]["peaks_N"])
    assert np.polyfit(np.arange(10), 100 * pk / pk[:3].mean(), 1)[0] < -1.5  # % per squeeze
    assert pk[-3:].mean() < 0.9 * pk[:3].mean()
    rested = Run(
        100,
        seed=16,
        pen=False,
        profile={"grip_recovery_s": 0.5},
        scenario=[("rest", 1.0), ("repeated", "right", 10)],
    )
    pk = np.array(rested.truth["grip"]["repeated"][0]["peaks_N"])
    assert abs(np.polyfit(np.arange(10), 100 * pk / pk[:3].mean(), 1)[0]) < 1.0


def test_sustained_hold_truth_and_fr50() -> None:
    r = Run(70, seed=13, pen=False, scenario=[("rest", 1.0), ("hold", "left", 60.0), ("rest", 9.0)])
    (h,) = r.truth["grip"]["holds"]
    idx = _squeeze(r, h)
    k = idx[np.argmax(r.grip[idx])]
    assert h["peak_N"] == r.grip[k]
    release = h["t_start_s"] + h["rise_s"] + h["hold_s"]
    last3 = (r.t >= release - 3) & (r.t < release)
    assert close(h["mean_last3_N"], r.grip[last3].mean())
    assert close(h["fatigue_index_pct"], 100 * (h["peak_N"] - h["mean_last3_N"]) / h["peak_N"])
    after = (r.t > r.t[k]) & (r.t < release) & (r.grip <= 0.5 * h["peak_N"])
    assert h["fr50_s"] is not None
    assert close(h["fr50_s"], r.t[np.argmax(after)] - r.t[k])
    assert 15 < h["fr50_s"] < 45


def test_target_steadiness_is_the_detrended_cv_of_its_window() -> None:
    scenario = [("rest", 1.0), ("trial", "right", 1), ("rest", 5.0), ("target", "right", 0.5, 20.0)]
    r = Run(40, seed=14, pen=False, scenario=scenario)
    g = r.truth["grip"]
    (tg,) = g["targets"]
    assert close(tg["target_N"], 0.5 * g["trials"][0]["peak_smooth_N"])
    w0, w1 = tg["window_s"]
    assert close(w1 - w0, 0.5 * 20.0)
    m = (r.t >= w0) & (r.t < w1)
    x, y = r.t[m], r.grip[m]
    res = y - np.polyval(np.polyfit(x - w0, y, 1), x - w0)
    assert tg["n_window"] == m.sum()
    assert close(tg["mean_N"], y.mean())
    assert close(tg["sd_N"], y.std(), rel=1e-7)
    assert close(tg["sd_detrended_N"], res.std(), rel=1e-7)
    expected = math.hypot(student.DEFAULTS["grip_steady_pct"], student.DEFAULTS["tremor_grip_pct"])
    assert 0.6 * expected < tg["cv_detrended_pct"] < 1.4 * expected


@pytest.mark.parametrize(
    ("profile", "hz"),
    [
        ({"tremor_grip_pct": 1.0}, 10.0),
        ({"tremor_hz": 8.5, "tremor_grip_pct": 1.0}, 8.5),
        ({"path_tremor_grip_pct": 2.0}, 5.5),
    ],
)
def test_grip_tremor_frequency_shows_in_the_spectrum(profile: dict[str, float], hz: float) -> None:
    scenario = [("rest", 1.0), ("target", "right", 0.5, 40.0)]
    r = Run(40, seed=15, pen=False, profile=profile, scenario=scenario)
    m = (r.t > 3) & (r.t < 40)
    y = sps.detrend(r.grip[m])
    f, p = sps.welch(y, fs=200, nperseg=2048)
    band = (f > 4.5) & (f < 15)
    assert abs(f[band][np.argmax(p[band])] - hz) < 0.5


def test_grip_force_is_zero_at_rest_and_never_negative(grip_run: Run) -> None:
    assert (grip_run.grip >= 0).all()
    assert (grip_run.grip[grip_run.t < 2.0] == 0).all()


# ---------------------------------------------------------------- MicroPython


def _tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    assert Path(found).exists(), f"{name} not installed: run `make setup`"
    return found


def _mpy(
    script: str, *args: str, path: Path = SIM, heap: str = HEAP
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MICROPYPATH=str(path))
    proc = subprocess.run(
        [_tool("micropython"), "-X", f"heapsize={heap}", str(MPY / script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """student.py precompiled by mpy-cross, as the firmware carries it: compiling the source
    in place takes more heap than the firmware can spare."""
    out = tmp_path_factory.mktemp("mpy")
    subprocess.run(
        [_tool("mpy-cross"), "-o", str(out / "student.mpy"), str(SIM / "student.py")], check=True
    )
    return out


def _signal(proc: subprocess.CompletedProcess[str]) -> tuple[np.ndarray, dict[str, Any]]:
    lines = proc.stdout.splitlines()
    assert lines[-1].startswith("TRUTH ")
    rows = [struct.unpack("<4d", bytes.fromhex(ln)) for ln in lines[:-1]]
    return np.array(rows), json.loads(lines[-1][6:])


def _cpython(seed: int, seconds: float, rate: int, profile: dict[str, Any] | None = None):
    r = Run(seconds, rate=rate, seed=seed, profile=profile)
    return np.stack((r.tip, r.a, r.b, r.grip), axis=1), r.truth


def _same_numbers(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_numbers(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same_numbers, a, b))
    if isinstance(a, float) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


@pytest.mark.parametrize("source", ["mpy", "py"])
def test_micropython_gives_the_same_numbers_as_cpython(source: str, compiled: Path) -> None:
    # precompiled within the firmware's heap; from source with room for the compiler
    path, heap = (compiled, HEAP) if source == "mpy" else (SIM, "256k")
    mpy, mtruth = _signal(_mpy("student_signal.py", "7", "40", "200", path=path, heap=heap))
    cpy, ctruth = _cpython(7, 40, 200)
    assert mpy.shape == cpy.shape == (8000, 4)
    assert np.abs(mpy - cpy).max() <= 1e-9
    assert (mpy == cpy).mean() > 0.999  # in fact bit for bit
    assert _same_numbers(ctruth, mtruth)


def test_micropython_is_deterministic_per_seed(compiled: Path) -> None:
    profile = json.dumps({"path_tremor_pen_N": 0.2, "grip_right_N": 150.0})
    one = _signal(_mpy("student_signal.py", "3", "20", "100", profile, path=compiled))[0]
    again = _signal(_mpy("student_signal.py", "3", "20", "100", profile, path=compiled))[0]
    other = _signal(_mpy("student_signal.py", "4", "20", "100", profile, path=compiled))[0]
    assert np.array_equal(one, again)
    assert not np.allclose(one, other)
    cpy = _cpython(3, 20, 100, json.loads(profile))[0]
    assert np.abs(one - cpy).max() <= 1e-9


def test_micropython_heap_and_speed(compiled: Path, record_property: Any) -> None:
    # 60 s of pen and of grip at 200 Hz in the firmware's 128 KB heap, then 60 s more
    proc = _mpy("student_heap.py", "60", "200", path=compiled)
    figures = {}
    for line in proc.stdout.splitlines():
        tag, name, value = line.split()
        figures[f"{tag.lower()}_{name}"] = int(value)
    for k, v in figures.items():
        record_property(k, v)
    print(figures)
    assert figures["heap_import"] < 32 * 1024
    assert figures["heap_student"] < 8 * 1024
    assert figures["heap_run"] < 4 * 1024
    # memory stays flat: a second minute adds only its per-minute bin and squeeze rows
    assert figures["heap_run2"] - figures["heap_run"] < 2 * 1024
    assert figures["speed_pen"] > 2000 and figures["speed_grip"] > 2000
