"""Report cost: `finemotor report` of a 10-minute session (stylus 200 Hz + grip 320 Hz, six
squeezes, one marked writing task), PNG and PDF, as a fraction of the session's length; and
the re-analysis alone. Median of several runs."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from finemotor.recording import Recording
from finemotor.report.analysis import analyse_session
from finemotor.report.session_report import session_report

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "host"))
from test_report_data import Session, record

RUNS = 3
SESSION_S = 600.0


def main() -> None:
    """Print the report's cost against the session's length."""
    squeezes = [("right", 20.0 + 6 * i, 170.0) for i in range(3)]
    squeezes += [("left", 50.0 + 6 * i, 140.0) for i in range(3)]
    with tempfile.TemporaryDirectory(prefix="fm-bench-report-") as tmp:
        db = Path(tmp) / "rec.sqlite"
        sid = record(
            db,
            Session(
                grip_squeezes=squeezes,
                grip_seconds=SESSION_S,
                pen_seconds=SESSION_S,
                pen_marks=[(60.0, "start 10-minute copy"), (590.0, "end of task")],
            ),
        )
        whole, analysis = [], []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            session_report(db, sid, Path(tmp), pdf=True)
            whole.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with Recording(db) as rec:
                analyse_session(rec, sid)
            analysis.append(time.perf_counter() - t0)
    w, a = statistics.median(whole), statistics.median(analysis)
    print(
        f"report of a {SESSION_S / 60:.0f}-minute session, PNG + PDF: {w:.2f} s "
        f"({100 * w / SESSION_S:.2f} % of the session's length), of which re-analysis "
        f"{a:.2f} s; median of {RUNS}"
    )


if __name__ == "__main__":
    main()
