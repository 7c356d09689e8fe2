"""Session reports, progress across sessions and the therapist's goals (docs/reports.md).

Every number is recomputed from a session's recorded raw counts and the calibration stored
with each device; drawing uses matplotlib's Agg canvas (no display needed).
"""

from typing import TYPE_CHECKING

from finemotor._lazy import lazy_exports

if TYPE_CHECKING:
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

_EXPORTS = {
    "SessionAnalysis": "finemotor.report.analysis",
    "analyse_session": "finemotor.report.analysis",
    "GOAL_METRICS": "finemotor.report.goals",
    "Goal": "finemotor.report.goals",
    "load_goals": "finemotor.report.goals",
    "parse_target": "finemotor.report.goals",
    "set_goal": "finemotor.report.goals",
    "session_report": "finemotor.report.session_report",
    "write_session_report": "finemotor.report.session_report",
    "StudentProgress": "finemotor.report.trends",
    "student_progress": "finemotor.report.trends",
    "write_progress_report": "finemotor.report.trends",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
