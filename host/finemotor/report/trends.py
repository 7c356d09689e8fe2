"""Progress across a student's sessions: the goal metrics per session, and their graphs.

Per session (each re-analysed from its raw samples, as in the session report):

* ``grip_peak_right``, ``grip_peak_left``: the highest peak among that hand's grip trials (N;
  drawn in kgf). Hands come from the therapist's "right hand"/"left hand" marks.
* ``pen_cv``: the pen (tip) force CV over pen-down samples (%).
* ``pen_endurance``: the slope of the per-minute mean pen force (% of the first minute per
  minute).

The pen values come from the session's longest marked writing task, or from the whole stylus
recording when no task was marked.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
from matplotlib.axes import Axes

from finemotor.errors import FinemotorError
from finemotor.metrics.grip import GripSummary
from finemotor.metrics.pen import PenSummary
from finemotor.metrics.results import KGF_N, NEWTON, PERCENT, PERCENT_PER_MIN, Metric, absent
from finemotor.progress import Progress
from finemotor.recording import Recording, SessionInfo
from finemotor.report.analysis import SessionAnalysis, analyse_session
from finemotor.report.goals import GOAL_METRICS, Goal, format_target, read_goals
from finemotor.report.pages import Block, layout, save, table_blocks, text_block

GRAPH_IN = 2.8


@dataclass(frozen=True)
class SessionPoint:
    """One session's goal metrics (library units) and where the pen values came from."""

    session: SessionInfo
    values: dict[str, Metric]
    pen_source: str


@dataclass(frozen=True)
class StudentProgress:
    """A student's sessions (oldest first) and the goals in force."""

    student: str
    points: list[SessionPoint]
    goals: list[Goal]

    def series(self, metric: str) -> list[float | None]:
        """The metric's value per session (None where absent)."""
        out: list[float | None] = []
        for p in self.points:
            v = p.values[metric].value
            out.append(None if v is None else float(v))
        return out

    def goal(self, metric: str) -> Goal | None:
        """The goal in force on ``metric``, if any."""
        return next((g for g in self.goals if g.metric == metric), None)


def _grip_peak(s: GripSummary | None, hand: str) -> Metric:
    if s is None:
        return absent(NEWTON, "no grip recording in this session")
    if s.unit != NEWTON:
        return absent(NEWTON, "grip uncalibrated in this session: no force in newtons")
    peaks = [
        float(tr.peak.value) for tr in s.trials if tr.hand == hand and tr.peak.value is not None
    ]
    if not peaks:
        return absent(NEWTON, f"no usable {hand}-hand trial (marked 'right hand'/'left hand')")
    return Metric(max(peaks), NEWTON, display_unit="kgf")


def _pen_source(a: SessionAnalysis) -> tuple[PenSummary | None, str]:
    for d in a.devices:
        if d.kind != "stylus" or not isinstance(d.summary, PenSummary):
            continue
        tasks = [t for t in d.tasks if t.summary is not None]
        if tasks:
            task = max(tasks, key=lambda t: t.duration_s)
            return task.summary, f"task '{task.name}'"
        return d.summary, "whole recording"
    return None, "no stylus recording"


def session_values(a: SessionAnalysis) -> SessionPoint:
    """The goal metrics of one analysed session."""
    grip = next((d.summary for d in a.devices if isinstance(d.summary, GripSummary)), None)
    pen, source = _pen_source(a)
    values = {
        "grip_peak_right": _grip_peak(grip, "right"),
        "grip_peak_left": _grip_peak(grip, "left"),
    }
    if pen is None:
        values["pen_cv"] = absent(PERCENT, source)
        values["pen_endurance"] = absent(PERCENT_PER_MIN, source)
    else:
        force_trend = pen.endurance.trends.mean_force
        values["pen_cv"] = pen.force["cv"]
        values["pen_endurance"] = (
            force_trend.slope
            if force_trend is not None
            else absent(PERCENT_PER_MIN, "no endurance trend")
        )
    return SessionPoint(a.session, values, source)


def student_progress(
    db: str | Path | None,
    student: str,
    *,
    show_progress: bool = True,
    stream: TextIO | None = None,
) -> StudentProgress:
    """Re-analyse every session of ``student`` (oldest first) and read the goals in force.

    Raises:
        FinemotorError: the student has no sessions (the message says what to do).
        RecordingError: the database cannot be read.
    """
    with Recording(db) as rec:
        sessions = [s for s in rec.list_sessions() if s.student == student]
        if not sessions:
            known = sorted({s.student for s in rec.list_sessions()})
            listed = f" (students recorded here: {', '.join(known[:10])})" if known else ""
            raise FinemotorError(
                f"no sessions recorded for student {student!r} in {rec.path}{listed}: record a "
                "session for this student first, check the id (`finemotor sessions` lists "
                "them), or read another recording"
            )
        points = []
        with Progress(
            len(sessions), f"analysing {student}'s sessions", stream, show_progress
        ) as bar:
            for s in sessions:
                points.append(session_values(analyse_session(rec, s.id)))
                bar.advance(note=f"session {s.id}")
        goals = read_goals(rec, student)
    return StudentProgress(student, points, goals)


# -- drawing -------------------------------------------------------------------------------

_SHOWN = {
    "grip_peak_right": ("right hand", "tab:red"),
    "grip_peak_left": ("left hand", "tab:blue"),
    "pen_cv": ("pen force CV", "tab:purple"),
    "pen_endurance": ("pen force slope", "tab:green"),
}


def _display(metric: str, value: float) -> float:
    return value / KGF_N if GOAL_METRICS[metric].unit == NEWTON else value


def _panel(p: StudentProgress, metrics: Sequence[str], ylabel: str, title: str) -> Block:
    def draw(ax: Axes) -> None:
        x = np.arange(1, len(p.points) + 1)
        for m in metrics:
            label, color = _SHOWN[m]
            ys = p.series(m)
            xs = [float(i) for i, v in zip(x, ys, strict=True) if v is not None]
            vs = [_display(m, v) for v in ys if v is not None]
            ax.plot(xs, vs, "o-", color=color, label=label, ms=4, lw=1.0)
            goal = p.goal(m)
            if goal is not None:
                ax.axhline(
                    _display(m, goal.target),
                    color=color,
                    ls="--",
                    lw=1.0,
                    label=f"goal ({label}) {format_target(goal)}",
                )
                met = [goal.met_by(v) for v in ys if v is not None]
                for xi, vi, ok in zip(xs, vs, met, strict=True):
                    if ok:
                        ax.plot([xi], [vi], "o", ms=8, mfc="none", mec="tab:green")
        ax.set_xticks(x)
        ax.set_xticklabels(
            [
                f"#{pt.session.id}\n{time.strftime('%m-%d', time.localtime(pt.session.started_at))}"
                for pt in p.points
            ],
            fontsize=7,
        )
        if len(x):
            ax.set_xlim(0.5, len(x) + 0.5)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        ax.set_title(title, fontsize=9, loc="left")
        ax.legend(loc="best", fontsize=6.5)

    return Block(GRAPH_IN, draw, inset_in=(0.6, 0.5, 0.1, 0.3))


def value_text(metric: str, m: Metric) -> str:
    """A session's value as shown in the table (grip in kgf with N)."""
    if m.value is None:
        return "—"
    v = float(m.value)
    if GOAL_METRICS[metric].unit == NEWTON:
        return f"{v / KGF_N:.1f} kgf ({v:.0f} N)"
    return f"{v:.2f} {m.unit}"


def progress_rows(p: StudentProgress) -> list[list[str]]:
    """Per session: id, date, the four metrics, where the pen values came from."""
    return [
        [
            str(pt.session.id),
            time.strftime("%Y-%m-%d", time.localtime(pt.session.started_at)),
            *(value_text(m, pt.values[m]) for m in GOAL_METRICS),
            pt.pen_source,
        ]
        for pt in p.points
    ]


def progress_blocks(p: StudentProgress) -> list[Block]:
    """The progress report's content."""
    blocks = [
        text_block([f"finemotor progress: student {p.student}"], size=14.0),
        text_block(
            [
                f"{len(p.points)} session(s), each re-analysed from its raw samples and stored "
                "calibration. Grip peak: the highest peak of the hand's trials in the session "
                "(kgf, 1 kgf = 9.80665 N). Pen values from the longest marked writing task, "
                "else the whole recording. Dashed lines: the goals in force; circled points "
                "meet them. docs/reports.md explains each measure.",
            ],
            size=8.5,
        ),
        _panel(p, ["grip_peak_right", "grip_peak_left"], "grip peak (kgf)", "Grip strength"),
        _panel(p, ["pen_cv"], "CV (%)", "Pen force variability (lower: steadier)"),
        _panel(p, ["pen_endurance"], "%/min", "Writing endurance: mean force slope over the task"),
    ]
    blocks += table_blocks(
        "Per session",
        ["session", "date", "grip R", "grip L", "pen CV", "force slope", "pen values from"],
        progress_rows(p),
    )
    blocks += table_blocks(
        "Goals in force",
        ["metric", "target", "set", "note"],
        [
            [
                g.metric,
                format_target(g),
                time.strftime("%Y-%m-%d", time.localtime(g.set_at)),
                g.note,
            ]
            for g in p.goals
        ],
    )
    return blocks


def write_progress_report(p: StudentProgress, out_dir: Path, pdf: bool = False) -> list[Path]:
    """Draw the progress report; return the files written (PNG, then PDF).

    Raises:
        FinemotorError: the files cannot be written.
    """
    stem = f"finemotor-progress-{p.student}"
    figures = layout(progress_blocks(p))
    return save(figures, out_dir / f"{stem}.png", out_dir / f"{stem}.pdf" if pdf else None)
