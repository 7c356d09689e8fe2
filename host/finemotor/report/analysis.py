"""Re-analysis of a recorded session: raw counts and the stored calibration in, metrics out.

Nothing here trusts the metrics snapshots taken live: every number is recomputed from the
recorded samples with the calibration recorded with the device, by the same
:mod:`finemotor.metrics` code the live view runs. The therapist's marks give the hand of each
grip trial ("right hand", "left hand") and the writing tasks ("start 10-minute copy" ...
"end of task").
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from finemotor.calibration.model import ChannelCalibration, DeviceCalibration
from finemotor.errors import CalibrationError
from finemotor.forces import barrel_pads, barrel_sum, convert_channel
from finemotor.marks import hand_context
from finemotor.metrics.config import GripContext
from finemotor.metrics.grip import GripSummary
from finemotor.metrics.pen import PenSummary
from finemotor.metrics.summary import summarize_grip, summarize_pen
from finemotor.recording import DeviceInfo, Event, Recording, Samples, SessionInfo

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

_END = re.compile(r"^\s*(end|stop)\b", re.IGNORECASE)
_START = re.compile(r"^\s*start\b\s*(.*)$", re.IGNORECASE)
TARE_PERCENTILE = 1.0
"""With no calibration record, a channel's tare is estimated as this percentile of its counts."""


@dataclass(frozen=True)
class Mark:
    """A therapist's mark as one device saw it.

    Attributes:
        text: what the therapist marked ("right hand", "start 10-minute copy"...).
        host_t: host wall-clock time (unix s).
        device: the device whose clock ``device_t`` is on, if any.
        device_t: the mark on that device's clock (s), if known.
        id: the mark's id (shared by its rows for each device), if any.
    """

    text: str
    host_t: float
    device: str | None
    device_t: float | None
    id: str | None = None


@dataclass(frozen=True)
class WritingTask:
    """A writing task between a "start ..." mark and the next "end ..." mark on the stylus.

    Attributes:
        name: the text after "start" (e.g. "10-minute copy").
        start_t, end_t: device seconds.
        ended: False when no end mark came (the task runs to the end of the recording).
        summary: pen metrics of the task's samples alone, or None without samples.
    """

    name: str
    start_t: float
    end_t: float
    ended: bool
    summary: PenSummary | None

    @property
    def duration_s(self) -> float:
        """End minus start (s)."""
        return self.end_t - self.start_t


@dataclass(frozen=True)
class Signal:
    """A converted signal to draw: values in ``unit`` (``"N"`` or ``"raw"``)."""

    label: str
    values: F64
    unit: str


@dataclass(frozen=True)
class DeviceAnalysis:
    """One device of a session, re-analysed.

    Attributes:
        name: the device's name in the recording ("stylus", "grip").
        kind: ``"stylus"`` or ``"grip"`` (other kinds are listed, not analysed).
        rate_hz: the sampling rate used (the recorded one, else estimated from the times).
        t: device time of each sample (s).
        signals: what is drawn (tip and barrel; grip force), converted.
        calibrated: True when every analysed channel is in newtons.
        notes: caveats the report must print (uncalibrated, estimated rate...).
        summary: every metric of the whole recording, or None (no samples, unknown kind).
        marks: the therapist's marks on this device's clock, in time order.
        tasks: writing tasks (stylus only).
        contexts: the hand in force from each mark's device time (grip only).
    """

    name: str
    kind: str
    rate_hz: float
    t: F64
    signals: list[Signal]
    calibrated: bool
    notes: list[str]
    summary: PenSummary | GripSummary | None
    marks: list[Mark] = field(default_factory=list)
    tasks: list[WritingTask] = field(default_factory=list)
    contexts: list[tuple[float, GripContext]] = field(default_factory=list)


@dataclass(frozen=True)
class SessionAnalysis:
    """A whole session, re-analysed: its facts, devices and marks (one row per mark)."""

    session: SessionInfo
    devices: list[DeviceAnalysis]
    marks: list[Mark]


def _mark_text(data: Any) -> str:
    if isinstance(data, dict):
        return str(data.get("text", data.get("label", "")))
    return "" if data is None else str(data)


def marks_of(events: Sequence[Event]) -> list[Mark]:
    """The mark events as :class:`Mark` s (events of kind "mark"), in recorded order."""
    out = []
    for ev in events:
        if ev.kind != "mark":
            continue
        mid = ev.data.get("id") if isinstance(ev.data, dict) else None
        out.append(
            Mark(
                _mark_text(ev.data),
                ev.host_t,
                ev.device,
                ev.device_t,
                None if mid is None else str(mid),
            )
        )
    return out


def unique_marks(marks: Sequence[Mark]) -> list[Mark]:
    """One mark per id (the session stores a row per device), in host-time order."""
    seen: set[tuple[str, str | float]] = set()
    out = []
    for m in sorted(marks, key=lambda m: m.host_t):
        key: tuple[str, str | float] = (m.text, m.id if m.id is not None else m.host_t)
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out


def hand_contexts(marks: Sequence[Mark], device: str) -> list[tuple[float, GripContext]]:
    """``(device time, context)`` for each "right hand"/"left hand" mark on ``device``."""
    out: list[tuple[float, GripContext]] = []
    for m in sorted(_on_device(marks, device), key=lambda m: m.device_t or 0.0):
        context = hand_context(m.text)
        if context is not None and m.device_t is not None:
            out.append((m.device_t, context))
    return out


def task_spans(
    marks: Sequence[Mark], device: str, t_end: float
) -> list[tuple[str, float, float, bool]]:
    """``(name, start, end, ended)`` of the writing tasks marked on ``device``'s clock.

    A mark "start NAME" opens a task; a mark beginning "end" or "stop" closes it. A new start
    closes the open task there; a task still open at the end runs to ``t_end``.
    """
    spans: list[tuple[str, float, float, bool]] = []
    open_: tuple[str, float] | None = None
    for m in sorted(_on_device(marks, device), key=lambda m: m.device_t or 0.0):
        assert m.device_t is not None
        start = _START.match(m.text)
        if start is not None:
            if open_ is not None:
                spans.append((open_[0], open_[1], m.device_t, False))
            open_ = (start.group(1).strip() or "task", m.device_t)
        elif _END.match(m.text) and open_ is not None:
            spans.append((open_[0], open_[1], m.device_t, True))
            open_ = None
    if open_ is not None:
        spans.append((open_[0], open_[1], max(t_end, open_[1]), False))
    return spans


def _on_device(marks: Sequence[Mark], device: str) -> list[Mark]:
    return [m for m in marks if m.device == device and m.device_t is not None]


def _estimated_tares(counts: npt.NDArray[np.int32]) -> tuple[int, ...]:
    if counts.shape[0] == 0:
        return tuple(0 for _ in range(counts.shape[1]))
    return tuple(int(np.percentile(counts[:, i], TARE_PERCENTILE)) for i in range(counts.shape[1]))


def device_calibration(
    info: DeviceInfo, counts: npt.NDArray[np.int32]
) -> tuple[DeviceCalibration, list[str]]:
    """The device's calibration as recorded, and what the report must say about it.

    A missing or unusable record gives an uncalibrated record whose tare is estimated from the
    recording (the lowest 1% of each channel's counts), so forces are relative.
    """
    n = len(info.channels)
    rec = info.calibration
    problem: str | None = None
    if rec is None:
        problem = "no calibration record was stored with this device"
    else:
        try:
            cal = DeviceCalibration(
                int(rec["calibrated_at"]),
                tuple(
                    ChannelCalibration(c["model"], int(c["zero"]), tuple(c.get("coeffs", ())))
                    for c in rec["channels"]
                ),
            )
        except (KeyError, TypeError, ValueError, CalibrationError) as exc:
            problem = f"the stored calibration record cannot be used ({exc})"
        else:
            if len(cal.channels) != n:
                problem = (
                    f"the stored calibration record has {len(cal.channels)} channel(s), the "
                    f"device {n}"
                )
    if problem is not None:
        tares = _estimated_tares(counts)
        cal = DeviceCalibration(0, tuple(ChannelCalibration("none", z) for z in tares))
        return cal, [
            f"{info.name}: {problem}. UNCALIBRATED: forces are raw counts minus a tare "
            "estimated from the recording (relative units, not newtons); only unit-free "
            "metrics (CVs, ratios, times, trends) can be compared."
        ]
    raw = [ch for ch, c in zip(info.channels, cal.channels, strict=True) if not c.calibrated]
    if not raw:
        return cal, []
    return cal, [
        f"{info.name}: channel(s) {', '.join(raw)} UNCALIBRATED: shown in raw units (counts "
        "minus the tare), not newtons; only unit-free metrics (CVs, ratios, times, trends) "
        "are computed from them. Calibrate the kit (finemotor calibrate) for forces."
    ]


def sampling_rate(info: DeviceInfo, t: F64) -> tuple[float, list[str]]:
    """The recorded rate, else one estimated from the sample times (with a note)."""
    if info.rate_hz is not None and info.rate_hz > 0 and math.isfinite(info.rate_hz):
        return float(info.rate_hz), []
    if t.shape[0] < 2:
        return 0.0, []
    step = float(np.median(np.diff(t)))
    rate = 1.0 / step if step > 0 else 0.0
    return rate, [
        f"{info.name}: no sampling rate was recorded; {rate:.1f} Hz estimated from the times"
    ]


def _pen(info: DeviceInfo, s: Samples, marks: list[Mark]) -> DeviceAnalysis:
    cal, notes = device_calibration(info, s.counts)
    rate, rate_notes = sampling_rate(info, s.t)
    notes += rate_notes
    ch = info.channels
    if "tip" not in ch:
        notes.append(f"{info.name}: no 'tip' channel ({', '.join(ch)}): not analysed")
        return DeviceAnalysis(info.name, "stylus", rate, s.t, [], False, notes, None, marks)
    i_tip = ch.index("tip")
    tip = convert_channel(s.counts[:, i_tip], cal, i_tip)
    signals = [Signal("tip", tip.values, tip.unit)]
    pads = barrel_pads(ch)
    barrel: F64 | None = None
    barrel_unit = "N"
    if pads:
        grip = barrel_sum([convert_channel(s.counts[:, i], cal, i) for i in pads])
        barrel, barrel_unit = grip.values, grip.unit
        signals.append(Signal("barrel", barrel, barrel_unit))
    calibrated = all(sig.unit == "N" for sig in signals)

    def summarize(lo: int, hi: int) -> PenSummary | None:
        if hi <= lo:
            return None
        return summarize_pen(
            s.t[lo:hi],
            tip.values[lo:hi],
            None if barrel is None else barrel[lo:hi],
            rate_hz=rate,
            unit=tip.unit,
            barrel_unit="N" if barrel_unit == "N" else "raw",
            saturated=tip.saturated[lo:hi],
        )

    summary = summarize(0, s.t.shape[0])
    t_end = float(s.t[-1]) if s.t.shape[0] else 0.0
    tasks = []
    for name, a, b, ended in task_spans(marks, info.name, t_end):
        lo, hi = np.searchsorted(s.t, [a, b], side="left")
        tasks.append(WritingTask(name, a, b, ended, summarize(int(lo), int(hi))))
    return DeviceAnalysis(
        info.name, "stylus", rate, s.t, signals, calibrated, notes, summary, marks, tasks
    )


def _grip(info: DeviceInfo, s: Samples, marks: list[Mark]) -> DeviceAnalysis:
    cal, notes = device_calibration(info, s.counts)
    rate, rate_notes = sampling_rate(info, s.t)
    notes += rate_notes
    if "force" not in info.channels:
        notes.append(f"{info.name}: no 'force' channel ({', '.join(info.channels)}): not analysed")
        return DeviceAnalysis(info.name, "grip", rate, s.t, [], False, notes, None, marks)
    i = info.channels.index("force")
    force = convert_channel(s.counts[:, i], cal, i)
    contexts = hand_contexts(marks, info.name)
    if not contexts:
        notes.append(
            f"{info.name}: no 'right hand'/'left hand' marks: trials are not assigned to a hand"
        )
    summary = summarize_grip(
        s.t,
        force.values,
        rate_hz=rate,
        unit=force.unit,
        contexts=contexts,
        saturated=force.saturated,
    )
    return DeviceAnalysis(
        info.name,
        "grip",
        rate,
        s.t,
        [Signal("force", force.values, force.unit)],
        force.unit == "N",
        notes,
        summary,
        marks,
        contexts=contexts,
    )


def analyse_device(
    rec: Recording, session: int, info: DeviceInfo, marks: list[Mark]
) -> DeviceAnalysis:
    """Re-analyse one device of a session (its marks: those on its clock)."""
    return analyse_samples(info, rec.load_samples(session, info.name), marks)


def analyse_samples(info: DeviceInfo, s: Samples, marks: list[Mark]) -> DeviceAnalysis:
    """Analyse one device's recorded samples (from a desk's recording or the server's store)
    with the session's marks (only those on this device's clock are used)."""
    mine = sorted(_on_device(marks, info.name), key=lambda m: m.device_t or 0.0)
    if s.t.shape[0] == 0:
        why = f"{info.name}: no samples recorded"
    elif info.kind == "stylus":
        return _pen(info, s, mine)
    elif info.kind == "grip":
        return _grip(info, s, mine)
    else:
        why = f"{info.name}: a {info.kind!r} device, which finemotor does not analyse"
    return DeviceAnalysis(info.name, info.kind, 0.0, s.t, [], False, [why], None, mine)


def analyse_session(rec: Recording, session: int) -> SessionAnalysis:
    """Re-analyse every device of ``session`` from its raw samples and stored calibration.

    Raises:
        RecordingError: no such session, or the database cannot be read.
    """
    info = rec.session(session)
    marks = marks_of(rec.events(session, "mark"))
    devices = [analyse_device(rec, session, d, marks) for d in rec.devices(session)]
    return SessionAnalysis(info, devices, unique_marks(marks))
