"""Goals: targets in library units (kgf accepted), storage, older databases, the CLI."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_report_data import Session, record

from finemotor.cli import main
from finemotor.errors import FinemotorError
from finemotor.metrics import KGF_N
from finemotor.report.goals import GOAL_METRICS, load_goals, parse_target, set_goal


@pytest.mark.parametrize(
    ("metric", "text", "value"),
    [
        ("grip_peak_right", "18kgf", 18 * 9.80665),
        ("grip_peak_right", "18 KGF", 18 * 9.80665),
        ("grip_peak_left", "176N", 176.0),
        ("grip_peak_left", "12.5n", 12.5),
        ("pen_cv", "12", 12.0),
        ("pen_cv", "12.5%", 12.5),
        ("pen_endurance", "-2%/min", -2.0),
        ("pen_endurance", "-1.5", -1.5),
    ],
)
def test_targets_are_converted_to_library_units(metric: str, text: str, value: float) -> None:
    assert parse_target(metric, text) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    ("metric", "text", "says"),
    [
        ("grip_peak_right", "18", "needs its unit, kgf or N"),
        ("grip_peak_right", "18lb", "needs its unit"),
        ("pen_cv", "12kgf", "is in %"),
        ("pen_cv", "twelve", "not a number"),
        ("grip_strength", "18kgf", "grip_peak_right, grip_peak_left, pen_cv, pen_endurance"),
    ],
)
def test_bad_targets_say_what_to_write(metric: str, text: str, says: str) -> None:
    with pytest.raises(FinemotorError, match=says):
        parse_target(metric, text)


def test_goals_round_trip_and_the_latest_is_in_force(tmp_path: Path) -> None:
    db = tmp_path / "rec.sqlite"
    set_goal(db, "S-1", "grip_peak_right", 16 * KGF_N, note="term 1")
    set_goal(db, "S-1", "pen_cv", 15.0)
    set_goal(db, "S-1", "grip_peak_right", 18 * KGF_N, note="term 2")
    set_goal(db, "S-2", "pen_cv", 9.0, direction="at_least")
    goals = load_goals(db, "S-1")
    assert [(g.metric, g.unit, g.direction, g.note) for g in goals] == [
        ("grip_peak_right", "N", "at_least", "term 2"),
        ("pen_cv", "%", "at_most", ""),
    ]
    assert goals[0].target == pytest.approx(176.5197)
    assert goals[0].met_by(177.0) and not goals[0].met_by(176.0)
    assert goals[1].met_by(14.0) and not goals[1].met_by(16.0)
    assert len(load_goals(db, "S-1", history=True)) == 3
    assert [g.direction for g in load_goals(db, "S-2")] == ["at_least"]
    assert load_goals(tmp_path / "none.sqlite", "S-1") == []
    with pytest.raises(FinemotorError, match=r"never the student's name"):
        set_goal(db, "Jane Doe", "pen_cv", 10.0)


def test_an_older_database_without_a_goals_table(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    record(db, Session(grip_squeezes=[("right", 2.0, 100.0)], grip_seconds=5.0))
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE goals")
    assert load_goals(db, "S-001") == []
    set_goal(db, "S-001", "pen_cv", 10.0)  # the table is created on first write
    assert [g.target for g in load_goals(db, "S-001")] == [10.0]


def test_goal_cli_sets_and_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "rec.sqlite")
    assert main(["goal", "--student", "S-9", "--db", db]) == 0
    assert "no goals set for S-9" in capsys.readouterr().out
    assert main(["goal", "--student", "S-9", "grip_peak_left", "18kgf", "--db", db]) == 0
    assert "grip_peak_left >= 18.0 kgf (176.5 N)" in capsys.readouterr().out
    assert main(["goal", "--student", "S-9", "--db", db, "--", "pen_endurance", "-2%/min"]) == 0
    args = ["goal", "--student", "S-9", "pen_cv", "12%", "--direction", "at_most", "--db", db]
    assert main([*args, "--note", "steadier"]) == 0
    capsys.readouterr()
    assert main(["goal", "--student", "S-9", "--db", db]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == ["grip_peak_left", "pen_cv", "pen_endurance"]
    assert "(steadier)" in listed[1] and ">= -2 %/min" in listed[2]
    assert main(["goal", "--student", "S-9", "grip_peak_left", "18", "--db", db]) == 1
    assert "kgf or N" in capsys.readouterr().err
    assert main(["goal", "--student", "S-9", "grip_peak_left", "--db", db]) == 1
    assert "give a target" in capsys.readouterr().err


def test_every_goal_metric_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "reports.md").read_text()
    for name, m in GOAL_METRICS.items():
        assert f"`{name}`" in doc and m.unit in doc
