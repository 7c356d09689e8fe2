"""``finemotor report SESSION``: one recorded session's report (PNG, and PDF with --pdf)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finemotor.cli import command_help

if TYPE_CHECKING:
    pass


def register(sub: Any) -> None:
    """Add the ``report`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "report",
        help=command_help("report"),
        description=(
            "Re-analyses a recorded session from its raw samples and the calibration stored "
            "with each device, and draws force graphs, the metrics, grip trials (hands from "
            "the therapist's marks) and marked writing tasks. Writes a PNG, and a PDF with "
            "--pdf; prints the paths. See docs/reports.md."
        ),
    )
    p.add_argument("session", type=int, help="the session id (`finemotor sessions`)")
    p.add_argument("--pdf", action="store_true", help="also write a multi-page PDF")
    p.add_argument(
        "--out", type=Path, default=Path("."), help="folder for the files (default: here)"
    )
    p.add_argument("--db", type=Path, default=None, help="the database (default: data directory)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the report; print the paths; 0."""
    from finemotor.report.session_report import session_report

    for path in session_report(args.db, args.session, args.out, pdf=args.pdf):
        print(path)
    return 0
