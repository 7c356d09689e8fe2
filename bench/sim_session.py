"""A desk's recording of a simulated session (stylus and grip), for the workspace's browser
tests and benchmark.

The forces are the simulated student's (firmware/sim/student.py), turned into counts with the
kits' sensor gains and recorded with the desk's own Recorder, with calibrations, marks stamped
on each device's clock and on the desk's clock (as the desk stamps them), and a writing task.
Each device's clock starts at its own arbitrary value, so aligning them takes the marks.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.sim_accuracy import (
    FSR_COUNTS,
    FSR_N,
    GRIP_COUNTS_PER_N,
    GRIP_NOISE_N,
    TIP_COUNTS_PER_N,
    TIP_NOISE_N,
    student,
)
from finemotor.calibration import ChannelCalibration, DeviceCalibration
from finemotor.recording import Recorder
from finemotor.samples import DeviceKind, SampleBlock

PEN_HZ = 100.0
GRIP_HZ = 100.0
STYLUS_CLOCK0 = 1234.5
"""The stylus's clock at the session's start (s): not the desk's, not the grip's."""
GRIP_CLOCK0 = 87.25
BLOCK = 500


def _forces(seed: int, seconds: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = student.Student(seed=seed)
    t_pen = np.arange(round(seconds * PEN_HZ)) / PEN_HZ
    pen = np.array([s.pen(float(x)) for x in t_pen])
    t_grip = np.arange(round(seconds * GRIP_HZ)) / GRIP_HZ
    grip = np.array([s.grip(float(x)) for x in t_grip])
    return pen, grip, t_pen


def record_sim_session(
    db: Path,
    student_id: str,
    seconds: float = 120.0,
    seed: int = 1,
    started_at: float | None = None,
    grip_gain: float = 1.0,
) -> int:
    """Record one simulated session into the desk database ``db``; its session number.

    ``started_at`` backdates it (unix s; default now); ``grip_gain`` scales the grip forces
    (a stronger or weaker student on another day).
    """
    pen, grip, _ = _forces(seed, seconds)
    grip = grip * grip_gain
    rng = np.random.default_rng(seed)
    rec = Recorder(db, student=student_id, note="simulated session")
    table = tuple(float(v) for pair in zip(FSR_COUNTS, FSR_N, strict=True) for v in pair)
    cal_at = 1_700_000_000
    rec.add_device(
        "stylus",
        "stylus",
        ("tip", "barrel_a", "barrel_b"),
        rate_hz=PEN_HZ,
        serial="SIM-P1",
        firmware="sim",
        calibration=DeviceCalibration(
            cal_at,
            (
                ChannelCalibration("linear", 12_000, (1.0 / TIP_COUNTS_PER_N,)),
                ChannelCalibration("table", 0, table),
                ChannelCalibration("table", 0, table),
            ),
        ),
    )
    rec.add_device(
        "grip",
        "grip",
        ("force",),
        rate_hz=GRIP_HZ,
        serial="SIM-G1",
        firmware="sim",
        calibration=DeviceCalibration(
            cal_at, (ChannelCalibration("linear", 0, (1 / GRIP_COUNTS_PER_N,)),)
        ),
    )
    n = pen.shape[0]
    tip = 12_000 + np.round((pen[:, 0] + TIP_NOISE_N * rng.standard_normal(n)) * TIP_COUNTS_PER_N)
    pads = [np.round(np.interp(pen[:, k], FSR_N, FSR_COUNTS)) for k in (1, 2)]
    pen_counts = np.stack([tip, *pads], axis=1).astype(np.int32)
    g = grip.shape[0]
    grip_counts = np.round(
        (grip + GRIP_NOISE_N * rng.standard_normal(g)) * GRIP_COUNTS_PER_N
    ).astype(np.int32)[:, None]
    devices: tuple[tuple[DeviceKind, tuple[str, ...], Any, float, float], ...] = (
        ("stylus", ("tip", "barrel_a", "barrel_b"), pen_counts, PEN_HZ, STYLUS_CLOCK0),
        ("grip", ("force",), grip_counts, GRIP_HZ, GRIP_CLOCK0),
    )
    for name, channels, counts, hz, clock0 in devices:
        for k in range(0, counts.shape[0], BLOCK):
            seq = np.arange(k, min(k + BLOCK, counts.shape[0]), dtype=np.int64)
            rec.add_block(name, SampleBlock(name, channels, seq, clock0 + seq / hz, counts[seq]))
    t0 = time.time() if started_at is None else started_at
    marks = [(1.0, "right hand"), (seconds * 0.1, "start copy"), (seconds * 0.6, "end copy")]
    marks.append((seconds * 0.7, "left hand"))
    for i, (at, text) in enumerate(marks, 1):
        for dev, clock0 in (("stylus", STYLUS_CLOCK0), ("grip", GRIP_CLOCK0)):
            rec.add_event(
                "mark", {"text": text, "id": i}, device=dev, device_t=clock0 + at, host_t=t0 + at
            )
    rec.close()
    session = rec.session_id
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE sessions SET started_at = ?, ended_at = ? WHERE id = ?",
            (t0, t0 + seconds, session),
        )
    return session
