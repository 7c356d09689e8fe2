"""finemotor report: re-analysis of recorded sessions with known forces, and the files drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_report_data import GRIP_T0, PEN_T0, Session, expected_pen, record

from finemotor.calibration.model import DeviceCalibration
from finemotor.cli import main
from finemotor.errors import RecordingError
from finemotor.metrics import KGF_N
from finemotor.metrics.grip import GripSummary
from finemotor.metrics.pen import PenSummary
from finemotor.recording import Recording
from finemotor.report.analysis import SessionAnalysis, analyse_session
from finemotor.report.decimate import minmax_decimate
from finemotor.report.session_report import session_report
from finemotor.report.tables import trial_rows

SQUEEZES = [("right", 5.0, 180.0), ("right", 10.0, 190.0), ("left", 20.0, 120.0)]


def analyse(db: Path, sid: int) -> SessionAnalysis:
    with Recording(db) as rec:
        return analyse_session(rec, sid)


def test_grip_peaks_are_recomputed_from_counts_and_the_stored_calibration(tmp_path: Path) -> None:
    db = tmp_path / "rec.sqlite"
    sid = record(db, Session(grip_squeezes=SQUEEZES, grip_seconds=30.0))
    (grip,) = analyse(db, sid).devices
    assert grip.calibrated and grip.notes == []
    assert isinstance(grip.summary, GripSummary)
    trials = grip.summary.trials
    assert [tr.hand for tr in trials] == ["right", "right", "left"]  # from the marks
    for tr, (_, start, peak) in zip(trials, SQUEEZES, strict=True):
        assert tr.peak.value == pytest.approx(peak, rel=0.005)
        assert tr.onset_s.value is not None
        assert GRIP_T0 + tr.onset_s.value == pytest.approx(GRIP_T0 + start, abs=0.1)
    rows = trial_rows(grip)
    assert rows[0][1] == "right" and rows[2][1] == "left"
    assert float(rows[0][3]) == pytest.approx(GRIP_T0 + 5.0, abs=0.1)  # device clock
    newtons, kgf = rows[0][4].split(" N (")  # kgf beside newtons: "180.1 N (18.4 kgf)"
    assert float(newtons) == pytest.approx(180.0, rel=0.005)
    assert float(kgf.removesuffix(" kgf)")) == pytest.approx(180.0 / KGF_N, abs=0.1)
    right = grip.summary.hands["right"]
    assert right["trials"].value == 2


def test_writing_tasks_come_from_the_marks_and_match_an_independent_summary(
    tmp_path: Path,
) -> None:
    db = tmp_path / "rec.sqlite"
    s = Session(
        pen_seconds=150.0,
        pen_decline_per_min=-4.0,
        pen_marks=[(10.0, "start 10-minute copy"), (130.0, "end of task")],
    )
    sid = record(db, s)
    (pen,) = analyse(db, sid).devices
    (task,) = pen.tasks
    assert task.name == "10-minute copy" and task.ended
    assert (task.start_t, task.end_t) == (PEN_T0 + 10.0, PEN_T0 + 130.0)
    truth = expected_pen(10.0, 130.0, -4.0)  # from how the force was made
    assert isinstance(task.summary, PenSummary)
    assert task.summary.timing["strokes"].value == truth.strokes
    assert task.summary.force["cv"].value == pytest.approx(truth.cv, rel=0.01)
    force_trend = task.summary.endurance.trends.mean_force
    assert force_trend is not None
    got = force_trend.slope.value
    assert got == pytest.approx(truth.slope_pct_per_min, abs=0.1)  # about -4.1 % a minute


def test_report_cli_writes_png_and_pdf_and_prints_the_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "rec.sqlite"
    sid = record(
        db,
        Session(
            grip_squeezes=SQUEEZES,
            grip_seconds=30.0,
            pen_seconds=40.0,
            pen_marks=[(2.0, "start copy"), (35.0, "end of task")],
        ),
    )
    out = tmp_path / "reports"
    assert main(["report", str(sid), "--db", str(db), "--out", str(out), "--pdf"]) == 0
    printed = capsys.readouterr().out.split()
    png, pdf = out / f"finemotor-session-{sid}.png", out / f"finemotor-session-{sid}.pdf"
    assert printed == [str(png), str(pdf)]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert main(["report", str(sid), "--db", str(db), "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(png)]


def test_an_uncalibrated_grip_is_reported_in_raw_units_and_says_so(tmp_path: Path) -> None:
    db = tmp_path / "rec.sqlite"
    sid = record(db, Session(grip_squeezes=SQUEEZES, grip_seconds=30.0, grip_cal=None))
    (grip,) = analyse(db, sid).devices
    assert not grip.calibrated and grip.signals[0].unit == "raw"
    assert any("UNCALIBRATED" in n and "no calibration record" in n for n in grip.notes)
    assert isinstance(grip.summary, GripSummary) and grip.summary.unit == "raw"
    assert len(grip.summary.trials) == 3  # the trigger comes from the recording itself
    assert grip.summary.hands["right"]["max_of_3"].value is None  # no newtons
    assert [row[4].endswith("raw (above baseline)") for row in trial_rows(grip)] == [True] * 3
    # the tare is estimated from the recording: the relative peaks keep their ratio
    levels = [tr.level for tr in grip.summary.trials]
    assert levels[1] is not None and levels[2] is not None
    assert levels[2] / levels[1] == pytest.approx(120.0 / 190.0, rel=0.01)
    assert session_report(db, sid, tmp_path)[0].exists()


def test_an_uncalibrated_record_keeps_its_tare(tmp_path: Path) -> None:
    db = tmp_path / "rec.sqlite"
    cal = DeviceCalibration.uncalibrated(1, zero=50_000)
    sid = record(db, Session(grip_squeezes=SQUEEZES, grip_seconds=30.0, grip_cal=cal))
    (grip,) = analyse(db, sid).devices
    assert any("channel(s) force UNCALIBRATED" in n for n in grip.notes)
    assert float(np.min(grip.signals[0].values)) > -500  # counts minus the recorded tare


def test_unknown_session_is_a_recording_error_and_exit_code_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "rec.sqlite"
    record(db, Session(grip_squeezes=SQUEEZES[:1], grip_seconds=10.0))
    with Recording(db) as rec, pytest.raises(RecordingError) as err:
        analyse_session(rec, 42)
    assert err.value.reason == "unknown_session"
    assert main(["report", "42", "--db", str(db), "--out", str(tmp_path)]) == 1
    assert "no session 42" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png"))


def test_a_corrupt_database_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "rec.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    assert main(["report", "1", "--db", str(db), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "not a readable finemotor recording" in err and "--db" in err
    assert main(["report", "1", "--db", str(tmp_path / "none.sqlite")]) == 1
    assert "no recording here yet" in capsys.readouterr().err


def test_minmax_decimation_keeps_every_extreme() -> None:
    t = np.arange(200_000) / 320.0
    y = np.sin(t) + (np.arange(200_000) == 123_457) * 50.0 - (np.arange(200_000) == 7) * 9.0
    td, yd = minmax_decimate(t, y, 1000)
    assert td.shape[0] <= 2000 and np.all(np.diff(td) > 0)
    assert yd.max() == y.max() and yd.min() == y.min()
    short_t, short_y = minmax_decimate(t[:100], y[:100], 1000)
    assert short_t.shape[0] == 100 and short_y.shape[0] == 100


def test_a_ten_minute_session_reports_with_every_trial_and_the_task(tmp_path: Path) -> None:
    db = tmp_path / "rec.sqlite"
    squeezes = [("right", 20.0 + 6 * i, 170.0) for i in range(3)]
    squeezes += [("left", 50.0 + 6 * i, 140.0) for i in range(3)]
    sid = record(
        db,
        Session(
            grip_squeezes=squeezes,
            grip_seconds=600.0,
            pen_seconds=600.0,
            pen_marks=[(60.0, "start 10-minute copy"), (590.0, "end of task")],
        ),
    )
    paths = session_report(db, sid, tmp_path, pdf=True)  # its cost: bench/bench_report.py
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    devices = {d.name: d for d in analyse(db, sid).devices}
    grip_summary = devices["grip"].summary
    assert isinstance(grip_summary, GripSummary)
    assert [tr.hand for tr in grip_summary.trials] == ["right"] * 3 + ["left"] * 3
    assert len(devices["stylus"].tasks) == 1
