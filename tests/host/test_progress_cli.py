"""finemotor progress: per-session trend values equal independent computations; the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_report_data import Session, expected_pen, record

from finemotor.cli import main
from finemotor.errors import FinemotorError
from finemotor.metrics import KGF_N
from finemotor.report.goals import set_goal
from finemotor.report.trends import StudentProgress, student_progress

TASK = [(15.0, "start copy"), (140.0, "end of task")]


def sessions(db: Path) -> list[Session]:
    """Three sessions of S-7 getting stronger and steadier, one of another student between."""
    out = []
    for k in range(3):
        sq = [("right", 5.0 + 4 * i, 150.0 + 10 * k + i) for i in range(3)]
        sq += [("left", 25.0 + 4 * i, 120.0 + 8 * k) for i in range(3)]
        s = Session(
            student="S-7",
            grip_squeezes=sq,
            grip_seconds=40.0,
            pen_seconds=150.0,
            pen_decline_per_min=-3.0 + k,
            pen_marks=TASK,
            seed=k,
        )
        record(db, s)
        out.append(s)
        if k == 0:
            record(db, Session(student="S-8", grip_squeezes=sq, grip_seconds=40.0))
    return out


def independent_pen(s: Session) -> tuple[float, float]:
    """CV and force slope of the marked task, from how its force was made."""
    truth = expected_pen(TASK[0][0], TASK[1][0], s.pen_decline_per_min, s.seed)
    return truth.cv, truth.slope_pct_per_min


def test_trend_values_per_session_equal_independent_computations(tmp_path: Path) -> None:
    db = tmp_path / "rec.sqlite"
    made = sessions(db)
    prog = student_progress(db, "S-7", show_progress=False)
    assert isinstance(prog, StudentProgress)
    assert [p.session.id for p in prog.points] == [1, 3, 4]  # S-8's session 2 left out
    for point, s in zip(prog.points, made, strict=True):
        right = max(peak for hand, _, peak in s.grip_squeezes if hand == "right")
        left = max(peak for hand, _, peak in s.grip_squeezes if hand == "left")
        assert point.values["grip_peak_right"].value == pytest.approx(right, rel=0.005)
        assert point.values["grip_peak_left"].value == pytest.approx(left, rel=0.005)
        cv, slope = independent_pen(s)
        assert point.values["pen_cv"].value == pytest.approx(cv, rel=0.01)
        assert point.values["pen_endurance"].value == pytest.approx(slope, abs=0.1)
        assert point.pen_source == "task 'copy'"
    assert prog.series("pen_endurance") == sorted(prog.series("pen_endurance"))  # type: ignore[type-var]


def test_progress_cli_prints_values_draws_goals_and_shows_a_progress_bar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "rec.sqlite"
    sessions(db)
    set_goal(db, "S-7", "grip_peak_right", 16 * KGF_N)
    set_goal(db, "S-7", "pen_endurance", -2.0)
    out = tmp_path / "out"
    assert main(["progress", "--student", "S-7", "--db", str(db), "--out", str(out), "--pdf"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split()[:3] == ["session", "date", "grip_peak_right"]
    assert lines[1].split()[0] == "1" and "15.5 kgf" in lines[1]  # 152 N, best right trial
    assert "goal grip_peak_right: >= 16.0 kgf (156.9 N)" in captured.out
    png, pdf = out / "finemotor-progress-S-7.png", out / "finemotor-progress-S-7.pdf"
    assert lines[-2:] == [str(png), str(pdf)]
    assert png.read_bytes()[:4] == b"\x89PNG" and pdf.read_bytes()[:4] == b"%PDF"
    assert "analysing S-7's sessions: 3/3" in captured.err  # the progress bar (not a tty)


def test_a_student_without_sessions_is_told_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "rec.sqlite"
    record(db, Session(student="S-8", grip_squeezes=[("right", 2.0, 90.0)], grip_seconds=5.0))
    with pytest.raises(FinemotorError, match="no sessions recorded for student 'S-1'"):
        student_progress(db, "S-1", show_progress=False)
    assert main(["progress", "--student", "S-1", "--db", str(db), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "students recorded here: S-8" in err and "finemotor sessions" in err


def test_progress_on_a_corrupt_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "rec.sqlite"
    db.write_bytes(b"\x00" * 4096)
    assert main(["progress", "--student", "S-1", "--db", str(db)]) == 1
    assert "not a readable finemotor recording" in capsys.readouterr().err
