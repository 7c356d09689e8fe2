"""The therapist's goals per student: metric names, targets in library units, storage.

Goals live in the recording database's ``goals`` table (one row per goal set; the latest row
per student and metric is the goal in force). Targets are stored in library units: newtons for
grip strength (``18kgf`` on the command line becomes 176.52 N), percent for the pen force CV,
percent per minute for the endurance trend.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from finemotor.errors import FinemotorError
from finemotor.student import student_id_problem

if TYPE_CHECKING:
    from finemotor.recording import Recording

Direction = Literal["at_least", "at_most"]
DIRECTIONS: tuple[str, ...] = get_args(Direction)


@dataclass(frozen=True)
class GoalMetric:
    """A metric a goal can be set on.

    Attributes:
        name: the name used on the command line and in the database.
        unit: the library unit targets are stored in.
        direction: the usual sense of a good result (a goal may say otherwise).
        description: what it is, for listings and docs.
    """

    name: str
    unit: str
    direction: Direction
    description: str


GOAL_METRICS: dict[str, GoalMetric] = {
    m.name: m
    for m in (
        GoalMetric(
            "grip_peak_right",
            "N",
            "at_least",
            "highest grip peak of the right hand's trials in a session (shown in kgf)",
        ),
        GoalMetric(
            "grip_peak_left",
            "N",
            "at_least",
            "highest grip peak of the left hand's trials in a session (shown in kgf)",
        ),
        GoalMetric("pen_cv", "%", "at_most", "pen (tip) force CV over pen-down samples"),
        GoalMetric(
            "pen_endurance",
            "%/min",
            "at_least",
            "slope of the per-minute mean pen force, % of the first minute per minute "
            "(negative: force falls as the task goes on)",
        ),
    )
}
"""The metrics a goal can be set on. The `goal` and `progress` commands list them in their
help, so this module imports numpy and the database only inside the functions that use them."""

_TARGET = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z%/]*)\s*$")


@dataclass(frozen=True)
class Goal:
    """One goal as stored.

    Attributes:
        student: the pseudonymous student id.
        metric: one of :data:`GOAL_METRICS`.
        target: the target in ``unit`` (library units).
        unit: ``N``, ``%`` or ``%/min``.
        direction: ``at_least`` or ``at_most``.
        set_at: unix seconds when it was set.
        note: the therapist's note.
    """

    student: str
    metric: str
    target: float
    unit: str
    direction: Direction
    set_at: float
    note: str = ""

    def met_by(self, value: float) -> bool:
        """True if ``value`` (in the goal's unit) reaches the goal."""
        return value >= self.target if self.direction == "at_least" else value <= self.target


def goal_metric(name: str) -> GoalMetric:
    """Return the metric called ``name``.

    Raises:
        FinemotorError: no such metric (the message lists them).
    """
    try:
        return GOAL_METRICS[name]
    except KeyError:
        raise FinemotorError(
            f"no goal metric {name!r}: use one of {', '.join(GOAL_METRICS)} "
            "(docs/reports.md describes them)"
        ) from None


def parse_target(metric: str, text: str) -> float:
    """Return the target ``text`` in the metric's library unit.

    Grip: ``18kgf`` (converted with 1 kgf = 9.80665 N) or ``176N``; a number without a unit is
    refused, since kgf and N differ tenfold. CV: ``12`` or ``12%``. Endurance: ``-2`` or
    ``-2%/min``.

    Raises:
        FinemotorError: not a number, or a unit that does not fit the metric.
    """
    from finemotor.metrics.results import KGF_N  # noqa: PLC0415  (see GOAL_METRICS)

    m = goal_metric(metric)
    match = _TARGET.match(text)
    if match is None:
        raise FinemotorError(
            f"target {text!r} is not a number with a unit: write e.g. "
            + ("18kgf or 176N" if m.unit == "N" else f"12{m.unit}")
        )
    value, unit = float(match.group(1)), match.group(2).lower()
    if m.unit == "N":
        if unit == "kgf":
            return value * KGF_N
        if unit == "n":
            return value
        raise FinemotorError(
            f"target {text!r} for {metric} needs its unit, kgf or N (e.g. 18kgf or 176N)"
        )
    if unit in ("", m.unit.lower()):
        return value
    raise FinemotorError(f"target {text!r} for {metric} is in {m.unit}: write e.g. 12{m.unit}")


def _check_student(student: str) -> None:
    problem = student_id_problem(student)
    if problem is not None:
        raise FinemotorError(
            f"{problem} (the id the sessions were recorded under: `finemotor sessions` lists them)"
        )


def set_goal(
    path: str | Path | None,
    student: str,
    metric: str,
    target: float,
    direction: Direction | None = None,
    note: str = "",
) -> Goal:
    """Store a goal (``target`` in the metric's library unit); it replaces the one in force.

    Raises:
        FinemotorError: unknown metric, bad direction or student id, non-finite target.
        RecordingError: the database cannot be written.
    """
    from finemotor.recording import write_transaction  # noqa: PLC0415  (see GOAL_METRICS)

    m = goal_metric(metric)
    _check_student(student)
    if direction is None:
        direction = m.direction
    if direction not in DIRECTIONS:
        raise FinemotorError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    if not math.isfinite(target):
        raise FinemotorError(f"target must be a finite number, got {target}")
    goal = Goal(student, metric, float(target), m.unit, direction, time.time(), note)
    with write_transaction(path) as conn:
        conn.execute(
            "INSERT INTO goals (student, metric, target, unit, direction, set_at, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (goal.student, goal.metric, goal.target, goal.unit, goal.direction, goal.set_at, note),
        )
    return goal


def read_goals(rec: Recording, student: str, history: bool = False) -> list[Goal]:
    """The student's goals in force (latest per metric), or every goal set with ``history``.

    A database from before goals existed has none.
    """
    if not rec.query("SELECT 1 FROM sqlite_master WHERE type='table' AND name='goals'"):
        return []
    rows = rec.query(
        "SELECT student, metric, target, unit, direction, set_at, note FROM goals "
        "WHERE student = ? ORDER BY set_at, id",
        (student,),
    )
    goals = [
        Goal(s, m, float(t), u, d if d in DIRECTIONS else "at_least", float(at), n or "")
        for s, m, t, u, d, at, n in rows
    ]
    if history:
        return goals
    latest: dict[str, Goal] = {}
    for g in goals:
        latest[g.metric] = g
    order = list(GOAL_METRICS)
    return sorted(
        latest.values(), key=lambda g: order.index(g.metric) if g.metric in order else len(order)
    )


def load_goals(path: str | Path | None, student: str, history: bool = False) -> list[Goal]:
    """:func:`read_goals` from the database at ``path`` (none if the file does not exist yet).

    Raises:
        RecordingError: the database cannot be read (corrupt, locked...).
    """
    from finemotor.recording import Recording, default_db_path  # noqa: PLC0415  (see GOAL_METRICS)

    db = Path(path) if path is not None else default_db_path()
    if not db.exists():
        return []
    with Recording(db) as rec:
        return read_goals(rec, student, history)


def format_target(goal: Goal) -> str:
    """The target as a therapist reads it: grip in kgf with newtons beside it."""
    from finemotor.metrics.results import KGF_N  # noqa: PLC0415  (see GOAL_METRICS)

    sign = ">=" if goal.direction == "at_least" else "<="
    if goal.unit == "N":
        return f"{sign} {goal.target / KGF_N:.1f} kgf ({goal.target:.1f} N)"
    return f"{sign} {goal.target:g} {goal.unit}"


__all__ = [
    "DIRECTIONS",
    "GOAL_METRICS",
    "Direction",
    "Goal",
    "GoalMetric",
    "format_target",
    "goal_metric",
    "load_goals",
    "parse_target",
    "read_goals",
    "set_goal",
]
