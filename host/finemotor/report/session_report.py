"""One session's report: force graphs per device, the metrics, grip trials, writing tasks and
marks, as a PNG (and a multi-page PDF on request)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from numpy.typing import ArrayLike

from finemotor.metrics.grip import GripSummary
from finemotor.metrics.results import KGF_N
from finemotor.recording import Recording
from finemotor.report.analysis import DeviceAnalysis, SessionAnalysis, analyse_session
from finemotor.report.decimate import minmax_decimate
from finemotor.report.pages import Block, layout, save, table_blocks, text_block
from finemotor.report.tables import (
    METRIC_COLUMNS,
    TASK_COLUMNS,
    TRIAL_COLUMNS,
    mark_columns,
    mark_rows,
    metric_rows,
    task_rows,
    trial_rows,
)

F64 = npt.NDArray[np.float64]
GRAPH_IN = 3.0
PLOT_BUCKETS = 1500
"""Each line is drawn from at most twice this many points (a min/max envelope)."""

_COLORS = {"tip": "tab:blue", "barrel": "tab:orange", "force": "tab:green"}


def _unit_label(unit: str) -> str:
    return "force (N)" if unit == "N" else "raw units (counts - tare)"


def _draw_marks(ax: Axes, d: DeviceAnalysis) -> None:
    for m in d.marks:
        if m.device_t is None:
            continue
        ax.axvline(m.device_t, color="0.35", lw=0.6, ls="--")
        ax.text(
            m.device_t,
            0.98,
            " " + m.text,
            rotation=90,
            va="top",
            ha="right",
            fontsize=6,
            color="0.25",
            transform=ax.get_xaxis_transform(),
        )


def _graph(d: DeviceAnalysis) -> Callable[[Axes], None]:
    def draw(ax: Axes) -> None:
        main_unit = d.signals[0].unit
        twin: Axes | None = None
        for sig in d.signals:
            target = ax
            if sig.unit != main_unit:
                twin = twin or ax.twinx()
                target = twin
                target.set_ylabel(sig.label + ": " + _unit_label(sig.unit), fontsize=8)
            t, y = minmax_decimate(d.t, sig.values, PLOT_BUCKETS)
            z = 3 if sig.label != "barrel" else 2
            alpha = 0.55 if sig.label == "barrel" else 1.0
            target.plot(
                t, y, lw=0.6, color=_COLORS.get(sig.label), label=sig.label, zorder=z, alpha=alpha
            )
        ax.set_ylabel(_unit_label(main_unit), fontsize=8)
        ax.set_xlabel("device time (s)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        for task in d.tasks:
            ax.axvspan(task.start_t, task.end_t, color="tab:blue", alpha=0.07)
        if isinstance(d.summary, GripSummary):
            _annotate_trials(ax, d, d.summary)
            if main_unit == "N":
                sec = ax.secondary_yaxis("right", functions=(_to_kgf, _to_newtons))
                sec.set_ylabel("force (kgf)", fontsize=8)
                sec.tick_params(labelsize=7)
        _draw_marks(ax, d)
        cal = "calibrated" if d.calibrated else "UNCALIBRATED: relative units"
        ax.set_title(f"{d.name} ({d.kind}, {d.rate_hz:.0f} Hz, {cal})", fontsize=9, loc="left")
        if len(d.signals) > 1:
            ax.legend(loc="upper left", fontsize=7)

    return draw


def _to_kgf(n: ArrayLike) -> F64:
    return np.asarray(n, dtype=np.float64) / KGF_N


def _to_newtons(kgf: ArrayLike) -> F64:
    return np.asarray(kgf, dtype=np.float64) * KGF_N


def _annotate_trials(ax: Axes, d: DeviceAnalysis, s: GripSummary) -> None:
    t0 = float(d.t[0])
    for tr in s.trials:
        if tr.peak.value is None or tr.onset_s.value is None or tr.time_to_peak_s.value is None:
            continue
        tp = t0 + float(tr.onset_s.value) + float(tr.time_to_peak_s.value)
        hand = {"right": "R", "left": "L"}.get(tr.hand, "")
        ax.plot([tp], [float(tr.peak.value)], "v", ms=4, color="tab:red")
        ax.annotate(
            f"{tr.index + 1}{hand}",
            (tp, float(tr.peak.value)),
            textcoords="offset points",
            xytext=(0, 4),
            ha="center",
            fontsize=6,
        )


def _header(a: SessionAnalysis) -> list[str]:
    s = a.session
    start = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.started_at))
    length = (
        f"{(s.ended_at - s.started_at) / 60:.1f} min"
        if s.ended_at is not None
        else "interrupted (no end recorded)"
    )
    lines = [f"Student {s.student}, {start}, {length}."]
    if s.note:
        lines.append(f"Note: {s.note}")
    lines.append(
        "Every metric is recomputed from the recorded raw samples and the calibration stored "
        "with each device (docs/metrics.md gives the definitions). Force in newtons; grip "
        "strength also in kgf (1 kgf = 9.80665 N). Times are on each device's clock."
    )
    return lines


def report_blocks(a: SessionAnalysis) -> list[Block]:
    """The report's content, top to bottom."""
    blocks = [
        text_block([f"finemotor session {a.session.id}"], size=14.0),
        text_block(_header(a), size=8.5),
    ]
    notes = [n for d in a.devices for n in d.notes]
    if notes:
        blocks.append(text_block(notes, size=8.5, color="darkred"))
    if not a.devices:
        blocks.append(text_block(["No device was recorded in this session."], size=9.0))
    for d in a.devices:
        if d.signals and d.t.shape[0]:
            blocks.append(Block(GRAPH_IN, _graph(d), inset_in=(0.6, 0.5, 0.6, 0.3)))
    for d in a.devices:
        blocks += table_blocks(f"Metrics ({d.name})", METRIC_COLUMNS, metric_rows(d))
        if isinstance(d.summary, GripSummary):
            blocks += table_blocks(f"Grip trials ({d.name})", TRIAL_COLUMNS, trial_rows(d))
        if d.kind == "stylus":
            blocks += table_blocks(f"Writing tasks ({d.name})", TASK_COLUMNS, task_rows(d))
    blocks += table_blocks("Marks", mark_columns(a), mark_rows(a))
    return blocks


def report_stem(session: int) -> str:
    """The report's file name without extension."""
    return f"finemotor-session-{session}"


def write_session_report(analysis: SessionAnalysis, out_dir: Path, pdf: bool = False) -> list[Path]:
    """Draw the report of an analysed session; return the files written (PNG, then PDF).

    Raises:
        FinemotorError: the files cannot be written.
    """
    stem = report_stem(analysis.session.id)
    figures = layout(report_blocks(analysis))
    return save(figures, out_dir / f"{stem}.png", out_dir / f"{stem}.pdf" if pdf else None)


def session_report(
    db: str | Path | None, session: int, out_dir: Path, pdf: bool = False
) -> list[Path]:
    """Re-analyse ``session`` of the database ``db`` and write its report into ``out_dir``.

    Raises:
        RecordingError: no such database or session, or the database cannot be read.
        FinemotorError: the report cannot be written.
    """
    with Recording(db) as rec:
        analysis = analyse_session(rec, session)
    return write_session_report(analysis, out_dir, pdf)
