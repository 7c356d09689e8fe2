"""The metrics against the simulated student's truth (firmware/sim/student.py), per seed.

One harness for the accuracy tests (tests/host/test_metrics_sim.py, which bound these errors)
and the accuracy benchmark (bench_accuracy, which prints them for docs/metrics.md): the student
is sampled at 200 Hz (pen) or 320 Hz (grip); forces become counts through the reference
hardware's scale factors with noise and quantisation, and are calibrated back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from finemotor.calibration import ChannelCalibration, DeviceCalibration
from finemotor.metrics import GripContext, GripSummary, PenSummary, summarize_block
from finemotor.samples import SampleBlock
from finemotor.simstudent import load_student_module

student = load_student_module()  # firmware/sim/student.py, imported without touching sys.path

PEN_FS = 200.0
GRIP_FS = 320.0
TIP_COUNTS_PER_N = 328_474.0  # FSS1500NSB through a NAU7802 at gain 8 (hardware/README.md)
TIP_NOISE_N = 0.001  # RMS; 3x the hardware budget's planning figure
GRIP_COUNTS_PER_N = 4_380.0  # 100 kg S-beam, 2 mV/V, NAU7802 at gain 128
GRIP_NOISE_N = 0.05
FSR_N = np.array([0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0])
FSR_COUNTS = np.round(4095 * FSR_N / (FSR_N + 5.0))  # a divider's saturating response
SEEDS = (1, 2, 3, 4, 5)
PEN_SCENARIO: list[Any] = [("write", 150.0), ("trace", 40.0)]
PEN_SECONDS = 190.0
GRIP_SECONDS = 206.0  # one pass of the demo scenario


def stylus(
    seed: int, scenario: list[Any], seconds: float
) -> tuple[SampleBlock, DeviceCalibration, Any]:
    """The simulated stylus's counts, its calibration, and (truth, t, true forces)."""
    s = student.Student(seed=seed, scenario={"pen": scenario})
    t = np.arange(round(seconds * PEN_FS)) / PEN_FS
    f = np.array([s.pen(float(x)) for x in t])
    rng = np.random.default_rng(seed)
    tip = 12_000 + np.round(
        (f[:, 0] + TIP_NOISE_N * rng.standard_normal(t.shape[0])) * TIP_COUNTS_PER_N
    )
    pads = [
        np.round(np.interp(f[:, k], FSR_N, FSR_COUNTS) + rng.normal(0, 1.5, t.shape[0]))
        for k in (1, 2)
    ]
    counts = np.stack([tip, *pads], axis=1).astype(np.int32)
    table = tuple(float(v) for pair in zip(FSR_COUNTS, FSR_N, strict=True) for v in pair)
    cal = DeviceCalibration(
        1_700_000_000,
        (
            ChannelCalibration("linear", 12_000, (1.0 / TIP_COUNTS_PER_N,)),
            ChannelCalibration("table", 0, table),
            ChannelCalibration("table", 0, table),
        ),
    )
    block = SampleBlock("stylus", ("tip", "barrel_a", "barrel_b"), np.arange(t.shape[0]), t, counts)
    return block, cal, (s.truth()["pen"], t, f)


def design_pen_down(t: np.ndarray, x: np.ndarray) -> list[tuple[int, int]]:
    """Reference pen-down (docs/metrics.md §6.1), sample by sample: hysteresis on 0.15 N and
    off 0.08 N, then lifts under 30 ms joined, then strokes under 20 ms dropped."""
    runs: list[list[int]] = []
    down = False
    for i, v in enumerate(x):
        if not down and v >= 0.15:
            down = True
            runs.append([i, len(x)])
        elif down and v <= 0.08:
            down = False
            runs[-1][1] = i
    joined: list[list[int]] = []
    for a, b in runs:
        if joined and joined[-1][1] < len(x) and t[a] - t[joined[-1][1]] < 0.030 - 1e-9:
            joined[-1][1] = b
        else:
            joined.append([a, b])
    end = lambda b: t[b] if b < len(x) else t[-1] + 1 / PEN_FS  # noqa: E731
    return [(a, b) for a, b in joined if end(b) - t[a] >= 0.020 - 1e-9]


def sim_pen(seed: int) -> tuple[PenSummary, Any]:
    """The pen summary of one seed's writing and tracing, and (truth, t, true forces)."""
    block, cal, truth = stylus(seed, PEN_SCENARIO, PEN_SECONDS)
    return summarize_block(block, cal, PEN_FS), truth  # type: ignore[return-value]


def sim_grip(seed: int, seconds: float = GRIP_SECONDS) -> tuple[GripSummary, Any]:
    """The grip summary of one seed's squeezes (the session's hand and task marks given), and
    the student's truth."""
    s = student.Student(seed=seed)
    t = np.arange(round(seconds * GRIP_FS)) / GRIP_FS
    f = np.array([s.grip(float(x)) for x in t])
    rng = np.random.default_rng(seed)
    counts = np.round((f + GRIP_NOISE_N * rng.standard_normal(t.shape[0])) * GRIP_COUNTS_PER_N)
    block = SampleBlock(
        "grip", ("force",), np.arange(t.shape[0]), t, counts.astype(np.int32)[:, None]
    )
    cal = DeviceCalibration(
        1_700_000_000, (ChannelCalibration("linear", 0, (1 / GRIP_COUNTS_PER_N,)),)
    )
    truth = s.truth()["grip"]
    ctx: list[tuple[float, GripContext]] = []
    for key, task in (("trials", "max"), ("holds", "hold"), ("targets", "steady")):
        for r in truth[key]:
            ctx.append((r["t_start_s"] - 0.5, GripContext(r["hand"], task, r.get("target_N"))))  # type: ignore[arg-type]
    for r in truth["repeated"]:
        ctx.append((r["t_start_s"] - 0.5, GripContext(r["hand"], "repeated")))
    ctx.sort(key=lambda c: c[0])
    return summarize_block(block, cal, GRIP_FS, contexts=ctx), truth  # type: ignore[return-value]


def _rel(got: float | None, want: float) -> float:
    assert got is not None
    return 100.0 * abs(float(got) - want) / abs(want)


@dataclass(frozen=True)
class PenErrors:
    """One seed's pen errors against the truth (relative, %), and whether strokes match."""

    cv: float
    mean: float
    between_stroke_cv: float
    within_stroke_cv: float
    strokes_match: bool


def pen_errors(s: PenSummary, truth: Any) -> PenErrors:
    """Errors of ``s`` against the truth, pen-down by the rule of docs/metrics.md §6.1."""
    tr, t, f = truth
    strokes = design_pen_down(t, f[:, 0])
    down = np.concatenate([f[a:b, 0] for a, b in strokes])
    means = [np.mean(f[a:b, 0]) for a, b in strokes]
    cvs = [100 * np.std(f[a:b, 0]) / np.mean(f[a:b, 0]) for a, b in strokes if b - a >= 5]
    return PenErrors(
        cv=_rel(s.force["cv"].value, 100 * float(np.std(down) / np.mean(down))),
        mean=_rel(s.force["mean"].value, float(np.mean(down))),
        between_stroke_cv=_rel(
            s.force["between_stroke_cv"].value, 100 * float(np.std(means) / np.mean(means))
        ),
        within_stroke_cv=_rel(s.force["within_stroke_cv"].value, float(np.mean(cvs))),
        strokes_match=s.timing["strokes"].value == tr["strokes"] == len(strokes),
    )


@dataclass(frozen=True)
class GripErrors:
    """One seed's grip errors against the truth.

    Attributes:
        peaks: relative error of every squeeze's peak (%), in the truth's order.
        mean_of_3: relative error of each hand's mean of 3 (%).
        static_fatigue: static fatigue index of the hold, absolute (points).
        repeated_fatigue: repeated-squeeze fatigue index, absolute (points).
        steadiness_cv: steadiness CV of the held target, relative (%).
        time_to_peak: time to peak of the maximal trials, largest absolute error (s).
        squeezes_match: as many trials found as the student made.
    """

    peaks: tuple[float, ...]
    mean_of_3: tuple[float, ...]
    static_fatigue: float
    repeated_fatigue: float
    steadiness_cv: float
    time_to_peak: float
    squeezes_match: bool


def grip_errors(s: GripSummary, truth: Any) -> GripErrors:
    """Errors of ``s`` against the student's truth."""
    records = [
        r for k in ("trials", "holds", "targets") for r in truth[k] if not r.get("in_progress")
    ]
    reps = [x for x in s.trials if x.task == "repeated"]
    rep_peaks = [p for r in truth["repeated"] for p in r["peaks_N"]]
    peaks: list[float] = []
    ttp = 0.0
    for r in records:
        if "t_onset_s" in r:
            (tr,) = [x for x in s.trials if abs((x.onset_s.value or 0) - r["t_onset_s"]) < 0.1]
        else:
            (tr,) = [x for x in s.trials if x.task == "steady"]
        assert tr.hand == r["hand"]
        peaks.append(_rel(tr.peak.value, r["peak_N"]))
        if tr.task == "max":
            ttp = max(ttp, abs(float(tr.time_to_peak_s.value or 0) - r["time_to_peak_s"]))
    peaks += [_rel(x.peak.value, p) for x, p in zip(reps, rep_peaks, strict=True)]
    m3 = []
    for hand in ("right", "left"):
        pk = [r["peak_N"] for r in truth["trials"] if r["hand"] == hand]
        m3.append(_rel(s.hands[hand]["mean_of_3"].value, float(np.mean(pk))))
    (hold,) = [x for x in s.trials if x.task == "hold"]
    (steady,) = [x for x in s.trials if x.task == "steady"]
    assert hold.hold is not None and steady.steadiness is not None
    return GripErrors(
        peaks=tuple(peaks),
        mean_of_3=tuple(m3),
        static_fatigue=abs(
            float(hold.hold["static_fatigue_index"].value or 0)
            - truth["holds"][0]["fatigue_index_pct"]
        ),
        repeated_fatigue=abs(
            float(s.hands["right"]["fatigue_index"].value or 0)
            - truth["repeated"][0]["fatigue_index_pct"]
        ),
        steadiness_cv=_rel(steady.steadiness["cv"].value, truth["targets"][0]["cv_detrended_pct"]),
        time_to_peak=ttp,
        squeezes_match=len(s.trials) == len(records) + len(rep_peaks),
    )
