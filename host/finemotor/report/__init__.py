"""Session reports, progress across sessions and the therapist's goals (docs/reports.md).

Every number is recomputed from a session's recorded raw counts and the calibration stored
with each device; drawing uses matplotlib's Agg canvas (no display needed).
"""

from finemotor.report.analysis import SessionAnalysis, analyse_session
from finemotor.report.goals import GOAL_METRICS, Goal, load_goals, parse_target, set_goal
from finemotor.report.session_report import session_report, write_session_report
from finemotor.report.trends import StudentProgress, student_progress, write_progress_report

__all__ = [
    "GOAL_METRICS",
    "Goal",
    "SessionAnalysis",
    "StudentProgress",
    "analyse_session",
    "load_goals",
    "parse_target",
    "session_report",
    "set_goal",
    "student_progress",
    "write_progress_report",
    "write_session_report",
]
