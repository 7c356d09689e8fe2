"""Synthetic recorded sessions with known forces, for the report, progress and goal tests.

Forces are made in newtons, turned into counts through a known calibration, and recorded with
the real Recorder, the way the session command records a kit: blocks as they arrive, the
device's calibration record, and each therapist's mark as one event row per device on that
device's clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from finemotor.calibration.model import ChannelCalibration, DeviceCalibration
from finemotor.recording import Recorder
from finemotor.samples import SampleBlock

F64 = npt.NDArray[np.float64]

PEN_FS = 200.0
GRIP_FS = 320.0
PEN_T0 = 100.0  # the stylus clock at the session's first sample
GRIP_T0 = 7.5  # the grip clock at the same instant: the two clocks differ
TIP_ZERO = 1000
TIP_SCALE = 1e-4  # N per count: 10 000 counts per newton
FSR = ChannelCalibration("table", zero=0, coeffs=(0, 0.0, 2000, 1.0, 5000, 4.0, 9000, 12.0))
STYLUS_CAL = DeviceCalibration(
    1_700_000_000, (ChannelCalibration("linear", TIP_ZERO, (TIP_SCALE,)), FSR, FSR)
)
GRIP_ZERO = 50_000
GRIP_SCALE = 0.002  # N per count
GRIP_CAL = DeviceCalibration(
    1_700_000_000, (ChannelCalibration("linear", GRIP_ZERO, (GRIP_SCALE,)),)
)

_mark_ids = itertools.count(1)


def squeeze(t: F64, t0: float, peak: float, rise: float = 0.5, hold: float = 1.2) -> F64:
    """A smooth squeeze starting at ``t0``: raised-cosine rise, flat top, 0.3 s release."""
    x = t - t0
    up = 0.5 - 0.5 * np.cos(np.pi * np.clip(x / rise, 0, 1))
    down = 0.5 + 0.5 * np.cos(np.pi * np.clip((x - rise - hold) / 0.3, 0, 1))
    return np.where((x > 0) & (x < rise + hold + 0.3), peak * np.minimum(up, down), 0.0)


def pen_force(t: F64, decline_per_min: float = 0.0, seed: int = 0) -> F64:
    """Strokes (0.25 s down, 0.2 s up) at about 1.5 N, whose level changes linearly in time."""
    rng = np.random.default_rng(seed)
    phase = (t % 0.45) / 0.25
    minutes = (t - t[0]) / 60.0 if t.shape[0] else t
    level = 1.5 * (1.0 + decline_per_min / 100.0 * minutes)
    tip = np.where(phase < 1.0, level * (1.0 + 0.2 * np.sin(np.pi * phase)), 0.0)
    return np.asarray(tip + 0.003 * rng.standard_normal(t.shape[0]), dtype=np.float64)


def blocks(
    kind: str, channels: tuple[str, ...], t: F64, counts: npt.NDArray[np.int32], size: int = 64
) -> list[SampleBlock]:
    """Cut samples into the blocks a kit sends."""
    seq = np.arange(t.shape[0], dtype=np.int64)
    return [
        SampleBlock(kind, channels, seq[i : i + size], t[i : i + size], counts[i : i + size])  # type: ignore[arg-type]
        for i in range(0, t.shape[0], size)
    ]


@dataclass
class Session:
    """What to record: grip squeezes (hand, start s, peak N), pen seconds, marks (s, text)."""

    student: str = "S-001"
    grip_squeezes: Sequence[tuple[str, float, float]] = ()
    grip_seconds: float = 0.0
    pen_seconds: float = 0.0
    pen_decline_per_min: float = 0.0
    pen_marks: Sequence[tuple[float, str]] = ()
    grip_cal: DeviceCalibration | None = GRIP_CAL
    stylus_cal: DeviceCalibration | None = STYLUS_CAL
    seed: int = 0
    note: str = ""
    truth: dict[str, F64] = field(default_factory=dict)


def grip_signal(s: Session) -> tuple[F64, F64]:
    """Grip time (device s) and force (N) of the session."""
    t = np.arange(round(s.grip_seconds * GRIP_FS)) / GRIP_FS
    f = np.zeros_like(t)
    for _, start, peak in s.grip_squeezes:
        f += squeeze(t, start, peak)
    rng = np.random.default_rng(s.seed)
    f += 0.05 * rng.standard_normal(t.shape[0])
    return t + GRIP_T0, f


def record(db: Path, s: Session) -> int:
    """Record ``s`` into ``db``; return the session id. Hand marks come 1 s before squeezes."""
    with Recorder(db, student=s.student, note=s.note) as rec:
        if s.grip_seconds:
            t, f = grip_signal(s)
            counts = (np.round(f / GRIP_SCALE) + GRIP_ZERO).astype(np.int32)[:, None]
            rec.add_device("grip", "grip", ("force",), rate_hz=GRIP_FS, calibration=s.grip_cal)
            last_hand = None
            for hand, start, _ in s.grip_squeezes:
                if hand != last_hand:
                    mark(rec, f"{hand} hand", start - 1.0, grip=True, stylus=bool(s.pen_seconds))
                    last_hand = hand
            for b in blocks("grip", ("force",), t, counts):
                rec.add_block("grip", b)
            s.truth["grip_t"], s.truth["grip_f"] = t, f
        if s.pen_seconds:
            t = np.arange(round(s.pen_seconds * PEN_FS)) / PEN_FS
            tip = pen_force(t, s.pen_decline_per_min, s.seed)
            pad = np.interp(0.8 * tip, [0.0, 1.0, 4.0, 12.0], [0, 2000, 5000, 9000])
            counts = np.stack(
                [TIP_ZERO + np.round(tip / TIP_SCALE), np.round(pad), np.round(pad)], axis=1
            ).astype(np.int32)
            ch = ("tip", "barrel_a", "barrel_b")
            rec.add_device("stylus", "stylus", ch, rate_hz=PEN_FS, calibration=s.stylus_cal)
            for at, text in s.pen_marks:
                mark(rec, text, at, grip=bool(s.grip_seconds), stylus=True)
            for b in blocks("stylus", ch, t + PEN_T0, counts):
                rec.add_block("stylus", b)
            s.truth["pen_t"], s.truth["pen_tip"] = t + PEN_T0, tip
    return rec.session_id


def mark(rec: Recorder, text: str, at: float, *, grip: bool, stylus: bool) -> None:
    """A therapist's mark at ``at`` s into the session: one event row per device."""
    data = {"text": text, "id": f"m{next(_mark_ids)}"}
    if grip:
        rec.add_event("mark", data, device="grip", device_t=GRIP_T0 + at)
    if stylus:
        rec.add_event("mark", data, device="stylus", device_t=PEN_T0 + at)


def expected_pen(start_s: float, end_s: float, decline_per_min: float, seed: int = 0) -> PenTruth:
    """What :func:`pen_force` makes between ``start_s`` and ``end_s`` into the session, from its
    own definition: the strokes (each 0.25 s down in every 0.45 s), the force CV over the
    pen-down samples, and the mean force's slope as % of the first minute's mean per minute."""
    t = np.arange(round(end_s * PEN_FS)) / PEN_FS
    tip = pen_force(t, decline_per_min, seed)
    span = (t >= start_s) & (t < end_s)
    down = span & ((t % 0.45) / 0.25 < 1.0)
    cv = 100.0 * float(np.std(tip[down], ddof=1) / np.mean(tip[down]))
    first_bin_mid_min = start_s / 60.0 + 0.5  # the level falls linearly: the bin's mean is mid
    slope = decline_per_min / (1.0 + decline_per_min / 100.0 * first_bin_mid_min)
    runs = np.diff(np.r_[0, down[span].astype(np.int8), 0])  # pen-down runs in the task
    lengths = (np.flatnonzero(runs == -1) - np.flatnonzero(runs == 1)) / PEN_FS
    strokes = int(np.count_nonzero(lengths >= 0.020))  # docs/metrics.md: min stroke 20 ms
    return PenTruth(cv, slope, strokes)


@dataclass(frozen=True)
class PenTruth:
    """The pen metrics a writing task of :func:`pen_force` has by construction."""

    cv: float
    slope_pct_per_min: float
    strokes: int
