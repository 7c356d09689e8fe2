"""``finemotor goal --student ID [METRIC TARGET]``: set a therapist's goal, or list them."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from finemotor.cli import command_help
from finemotor.errors import FinemotorError
from finemotor.report.goals import (
    DIRECTIONS,
    GOAL_METRICS,
    format_target,
    load_goals,
    parse_target,
    set_goal,
)


def register(sub: Any) -> None:
    """Add the ``goal`` sub-command."""
    metrics = "; ".join(f"{m.name} ({m.unit}): {m.description}" for m in GOAL_METRICS.values())
    p: argparse.ArgumentParser = sub.add_parser(
        "goal",
        help=command_help("goal"),
        description=(
            "With METRIC and TARGET, sets the goal (it replaces the one in force); without, "
            f"lists the goals. Metrics: {metrics}. Grip targets need their unit: 18kgf or "
            "176N. A target with a minus sign and a unit goes last, after `--`: "
            "`finemotor goal --student S1 -- pen_endurance -2%%/min`."
        ),
    )
    p.add_argument("--student", required=True, help="the pseudonymous student id")
    p.add_argument("metric", nargs="?", help=f"one of {', '.join(GOAL_METRICS)}")
    p.add_argument("target", nargs="?", help="e.g. 18kgf, 176N, 12%%, -2%%/min")
    p.add_argument("--direction", choices=DIRECTIONS, default=None, help="default per metric")
    p.add_argument("--note", default="", help="a note (no personal data)")
    p.add_argument("--history", action="store_true", help="list every goal ever set")
    p.add_argument("--db", type=Path, default=None, help="the database (default: data directory)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Set or list goals; 0."""
    if args.metric is not None:
        if args.target is None:
            raise FinemotorError(
                f"give a target for {args.metric}, e.g. `finemotor goal --student "
                f"{args.student} {args.metric} " + ("18kgf`" if "grip" in args.metric else "12`")
            )
        target = parse_target(args.metric, args.target)
        goal = set_goal(args.db, args.student, args.metric, target, args.direction, args.note)
        print(f"goal set for {goal.student}: {goal.metric} {format_target(goal)}")
        return 0
    goals = load_goals(args.db, args.student, history=args.history)
    if not goals:
        print(f"no goals set for {args.student}")
        return 0
    for g in goals:
        when = time.strftime("%Y-%m-%d", time.localtime(g.set_at))
        note = f"  ({g.note})" if g.note else ""
        print(f"{g.metric:<16} {format_target(g):<28} set {when}{note}")
    return 0
