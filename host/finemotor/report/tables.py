"""The report's tables as rows of text: metrics, grip trials, writing tasks, marks.

Values keep the library's units; grip forces in newtons get kilograms-force beside them, since
clinical grip norms use kgf. An absent value shows a dash and its reason.
"""

from __future__ import annotations

import time

from finemotor.metrics.grip import GripSummary
from finemotor.metrics.pen import PenSummary
from finemotor.metrics.results import KGF_N, Metric
from finemotor.report.analysis import DeviceAnalysis, Mark, SessionAnalysis

Row = list[str]
DASH = "—"
REASON_CHARS = 80


def fmt(m: Metric, digits: int = 2, kgf: bool = False) -> str:
    """A metric as text: value and unit (plus kgf for grip newtons), or a dash if absent."""
    if m.value is None:
        return DASH
    text = f"{m.value}" if isinstance(m.value, int) else f"{m.value:.{digits}f}"
    unit = "" if m.unit in ("1", "count") else f" {m.unit}"
    out = text + unit
    if m.unit == "N" and (kgf or m.display_unit == "kgf"):
        out += f" ({float(m.value) / KGF_N:.{digits}f} kgf)"
    return out


def comment(m: Metric) -> str:
    """The reason a metric is absent, or the note that travels with it (shortened)."""
    text = m.reason or m.note or ""
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def _pen_rows(s: PenSummary) -> list[Row]:
    trends = s.endurance.trends
    picks: list[tuple[str, Metric]] = [
        ("strokes", s.timing["strokes"]),
        ("on-paper time", s.timing["on_paper_s"]),
        ("in-air / on-paper", s.timing["in_air_ratio"]),
        ("strokes per minute", s.timing["strokes_per_min"]),
        ("tip force mean", s.force["mean"]),
        ("tip force SD", s.force["sd"]),
        ("tip force CV", s.force["cv"]),
        ("within-stroke CV", s.force["within_stroke_cv"]),
        ("between-stroke CV", s.force["between_stroke_cv"]),
        ("force fluidity", s.force["fluidity"]),
        ("tremor share 8-12 Hz", s.tremor["share_8_12"]),
        ("barrel grip mean", s.barrel["mean"]),
        ("barrel grip CV", s.barrel["cv"]),
        ("grip-to-axial ratio", s.barrel["grip_to_axial"]),
    ]
    if trends.mean_force is not None:
        picks += [
            ("endurance: force slope", trends.mean_force.slope),
            ("endurance: force decline", trends.mean_force.decline),
        ]
    if trends.writing_rate is not None:
        picks.append(("endurance: rate slope", trends.writing_rate.slope))
    return [[name, fmt(m), comment(m)] for name, m in picks]


def _grip_rows(s: GripSummary) -> list[Row]:
    rows: list[Row] = [["trials", str(len(s.trials)), s.reason or ""]]
    for hand, hm in s.hands.items():
        for key, label in (
            ("mean_of_3", "mean of 3"),
            ("max_of_3", "max of 3"),
            ("cv", "CV of 3"),
            ("fatigue_index", "fatigue index"),
        ):
            if key in hm:
                rows.append([f"{hand} hand: {label}", fmt(hm[key], 1), comment(hm[key])])
    change = s.pinch.get("change")
    if change is not None and change.present:
        rows.append(["pinch change after writing", fmt(change, 1), comment(change)])
    sat = s.quality.get("saturated_samples")
    if isinstance(sat, int) and sat:
        rows.append(["saturated samples", str(sat), "the sensor hit full scale"])
    return rows


METRIC_COLUMNS = ["metric", "value", "note"]


def metric_rows(d: DeviceAnalysis) -> list[Row]:
    """``[metric, value, comment]`` rows of one device's whole recording."""
    rows: list[Row] = [["sampling rate", f"{d.rate_hz:.1f} Hz", ""]]
    rows.append(["samples", str(d.t.shape[0]), ""])
    if d.t.shape[0] > 1:
        span = float(d.t[-1] - d.t[0])
        rows.append(["recorded", f"{span:.1f} s ({span / 60:.1f} min)", ""])
    if isinstance(d.summary, PenSummary):
        rows += _pen_rows(d.summary)
    elif isinstance(d.summary, GripSummary):
        rows += _grip_rows(d.summary)
    return rows


TRIAL_COLUMNS = [
    "#",
    "hand",
    "kind",
    "onset (device s)",
    "peak",
    "time to peak (s)",
    "duration (s)",
    "RFD 20-80",
    "flags",
]


def trial_rows(d: DeviceAnalysis) -> list[Row]:
    """One row per grip trial (onset on the device clock, as in the graph)."""
    if not isinstance(d.summary, GripSummary) or d.t.shape[0] == 0:
        return []
    t0 = float(d.t[0])
    rows = []
    for tr in d.summary.trials:
        onset = tr.onset_s.value
        rows.append(
            [
                str(tr.index + 1),
                tr.hand,
                tr.kind,
                DASH if onset is None else f"{t0 + float(onset):.2f}",
                _peak_text(tr.peak, tr.level, d.summary.unit),
                fmt(tr.time_to_peak_s, 2).removesuffix(" s"),
                fmt(tr.duration_s, 2).removesuffix(" s"),
                fmt(tr.rfd_20_80, 0),
                ", ".join(tr.flags),
            ]
        )
    return rows


def _peak_text(peak: Metric, level: float | None, unit: str) -> str:
    if peak.present:
        return fmt(peak, 1)
    if unit == "raw" and level is not None:
        return f"{level:.0f} raw (above baseline)"
    return f"{DASH} {comment(peak)}"[:40]


TASK_COLUMNS = [
    "task",
    "start (device s)",
    "duration (s)",
    "strokes",
    "force mean",
    "force CV",
    "force slope",
    "ended",
]


def task_rows(d: DeviceAnalysis) -> list[Row]:
    """One row per marked writing task on the stylus."""
    rows = []
    for task in d.tasks:
        s = task.summary
        if s is None:
            rows.append([task.name, f"{task.start_t:.1f}", f"{task.duration_s:.1f}"] + [DASH] * 4)
            rows[-1].append("yes" if task.ended else "no end mark")
            continue
        force_trend = s.endurance.trends.mean_force
        slope = force_trend.slope if force_trend is not None else None
        rows.append(
            [
                task.name,
                f"{task.start_t:.1f}",
                f"{task.duration_s:.1f}",
                fmt(s.timing["strokes"]),
                fmt(s.force["mean"]),
                fmt(s.force["cv"], 1),
                DASH if slope is None else fmt(slope, 2),
                "yes" if task.ended else "no end mark",
            ]
        )
    return rows


def mark_columns(analysis: SessionAnalysis) -> list[str]:
    """Host clock, the mark, then its time on each device's clock."""
    return ["host time", "mark"] + [f"{d.name} t (s)" for d in analysis.devices]


def mark_rows(analysis: SessionAnalysis) -> list[Row]:
    """The therapist's marks, once each, by host clock, with their device times."""
    rows = []
    for m in analysis.marks:
        row = [time.strftime("%H:%M:%S", time.localtime(m.host_t)), m.text]
        for d in analysis.devices:
            same = [x for x in d.marks if _same(x, m) and x.device_t is not None]
            row.append(f"{same[0].device_t:.2f}" if same else DASH)
        rows.append(row)
    return rows


def _same(a: Mark, b: Mark) -> bool:
    if a.id is not None or b.id is not None:
        return a.id == b.id and a.text == b.text
    return a.text == b.text and a.host_t == b.host_t
