"""``finemotor progress --student ID``: a student's trends across sessions, against goals."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finemotor.cli import command_help
from finemotor.report.goals import GOAL_METRICS, format_target

if TYPE_CHECKING:
    pass


def register(sub: Any) -> None:
    """Add the ``progress`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "progress",
        help=command_help("progress"),
        description=(
            "Re-analyses every recorded session of the student and draws per session the grip "
            "peak per hand (kgf), the pen force CV (%%) and the writing endurance trend "
            "(%%/min), each against the goal set with `finemotor goal`. Writes a PNG, and a "
            "PDF with --pdf; prints the values and the paths. See docs/reports.md."
        ),
    )
    p.add_argument("--student", required=True, help="the pseudonymous student id")
    p.add_argument("--pdf", action="store_true", help="also write a PDF")
    p.add_argument(
        "--out", type=Path, default=Path("."), help="folder for the files (default: here)"
    )
    p.add_argument("--db", type=Path, default=None, help="the database (default: data directory)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Analyse, print a table and the paths; 0."""
    from finemotor.report.trends import progress_rows, student_progress, write_progress_report

    prog = student_progress(args.db, args.student)
    header = ["session", "date", *GOAL_METRICS, "pen values from"]
    rows = progress_rows(prog)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    for g in prog.goals:
        print(f"goal {g.metric}: {format_target(g)}" + (f" ({g.note})" if g.note else ""))
    if not prog.goals:
        print("no goals set: `finemotor goal --student ID METRIC TARGET` sets one")
    for path in write_progress_report(prog, args.out, pdf=args.pdf):
        print(path)
    return 0
