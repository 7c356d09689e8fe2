"""A student's progress toward the IEP goals, from the sessions the server holds.

Each session is re-analysed from its raw samples and stored calibration (as the desk's
``finemotor progress`` does, :mod:`finemotor.report.trends`). A session's goal metric values
are worked out once, when it completes (:meth:`Analyses.warm`), and kept in the database, so
a student's progress after a server restart does not analyse every session again; whole
analyses (for the session page) are kept in memory, the most recent first.

For each goal in force, what IEP progress reporting asks for (:func:`goal_trend`): the
baseline (the first session's value), the latest value, the number of data points, the trend
(least-squares slope per week with its standard error, and a direction only when the slope is
at least twice its standard error), and the date the target is reached if the trend holds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
from collections import OrderedDict
from typing import Any

from finemotor import __version__
from finemotor.recording import SessionInfo
from finemotor.report.analysis import (
    SessionAnalysis,
    analyse_samples,
    marks_of,
    unique_marks,
)
from finemotor.report.goals import GOAL_METRICS
from finemotor.report.trends import session_values
from finemotor.server.records import Records, SessionRow

logger = logging.getLogger(__name__)

CACHE_ANALYSES = 8
"""Whole analyses kept (each holds a session's samples: a 30-minute session is ~10 MB)."""
CACHE_VALUES = 20000
"""Goal metric values kept per session (a few numbers each)."""
WEEK_S = 7 * 86400.0
DAY_S = 86400.0
MAX_PROJECTION_DAYS = 5 * 365


Key = tuple[int, str, float | None]


VALUES_MADE_BY = f"finemotor {__version__}/1"
"""The analysis that works out stored goal metric values: values another one made are worked
out again (raise the number after ``/`` when the goal metrics change within a version)."""


class Analyses:
    """Session analyses (in memory, least recently used first out) and each session's goal
    metric values (in memory, and in the database once the session is complete)."""

    def __init__(self, records: Records, size: int = CACHE_ANALYSES) -> None:
        self.records = records
        self.size = size
        self._cache: OrderedDict[Key, SessionAnalysis] = OrderedDict()
        self._values: OrderedDict[Key, dict[str, Any]] = OrderedDict()
        self._warming: set[asyncio.Task[None]] = set()

    def warm(self, sid: int) -> None:
        """Work out complete session ``sid``'s goal metric values and analysis in the
        background (just after its upload completed), so the therapist's first look is quick."""

        async def go() -> None:
            try:
                row = await self.records.session(sid)
                if row.state == "complete":
                    await self.values(row)
            except Exception:  # a failure here costs only time, later
                logger.exception("session %d: analysing after its upload failed", sid)

        task = asyncio.create_task(go())
        self._warming.add(task)
        task.add_done_callback(self._warming.discard)

    async def close(self) -> None:
        """Stop the analyses still running in the background (the server is stopping)."""
        tasks = list(self._warming)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def values(self, row: SessionRow) -> dict[str, Any]:
        """Session ``row``'s goal metrics: ``{"values", "why", "pen_source"}``."""
        key = (row.id, row.state, row.completed_at)
        found = self._values.get(key)
        if found is None and row.state == "complete":
            found = await self.records.stored_values(row.id, VALUES_MADE_BY)
            if found is not None:
                self._values[key] = found
        if found is not None:
            self._values.move_to_end(key)
            return found
        point = session_values(await self.of(row))
        values: dict[str, float | None] = {}
        why: dict[str, str] = {}
        for name, m in point.values.items():
            v = None if m.value is None else float(m.value)
            values[name] = v if v is not None and math.isfinite(v) else None
            if values[name] is None:
                why[name] = m.reason or "not measured"
        out = {"values": values, "why": why, "pen_source": point.pen_source}
        if row.state == "complete":
            await self.records.store_values(row.id, VALUES_MADE_BY, out)
        self._values[key] = out
        while len(self._values) > CACHE_VALUES:
            self._values.popitem(last=False)
        return out

    async def of(self, row: SessionRow) -> SessionAnalysis:
        """The analysis of session ``row`` (every device, with its marks)."""
        key = (row.id, row.state, row.completed_at)
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        marks = marks_of(await self.records.events(row.id, "mark"))
        devices = []
        for info in await self.records.devices(row.id):
            samples = await self.records.load_samples(row.id, info.name)
            devices.append(await asyncio.to_thread(analyse_samples, info, samples, marks))
        facts = SessionInfo(row.id, row.student, row.started_at, row.ended_at, row.note)
        analysis = SessionAnalysis(facts, devices, unique_marks(marks))
        self._cache[key] = analysis
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return analysis


def _date(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).date().isoformat()


def goal_trend(goal: dict[str, Any], points: list[tuple[float, float]]) -> dict[str, Any]:
    """Baseline, latest, data points, trend and projection of one goal.

    Args:
        goal: the goal as the API gives it (``target``, ``direction``, ``by``).
        points: ``(unix time, value)`` per session with a value, oldest first, in the
            goal's unit.
    """
    target, up = float(goal["target"]), goal["direction"] == "at_least"
    out: dict[str, Any] = {
        "points": len(points),
        "baseline": points[0][1] if points else None,
        "baseline_at": points[0][0] if points else None,
        "latest": points[-1][1] if points else None,
        "latest_at": points[-1][0] if points else None,
        "slope_per_week": None,
        "slope_se": None,
        "trend": "no data" if not points else "not enough data",
        "projected": None,
        "status": "no data" if not points else "not enough data",
    }
    if not points:
        return out
    latest = points[-1][1]
    met = latest >= target if up else latest <= target
    if met:
        out["status"] = "reached"
    xs = [(t - points[0][0]) / WEEK_S for t, _ in points]
    ys = [v for _, v in points]
    n = len(points)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if n < 2 or sxx <= 0.0:
        return out
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = my - slope * mx
    se: float | None = None
    if n >= 3:
        ssr = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
        se = math.sqrt(ssr / (n - 2) / sxx)
    out["slope_per_week"], out["slope_se"] = slope, se
    good = slope > 0 if up else slope < 0
    if se is None:
        out["trend"] = "not enough data"
    elif abs(slope) < 2.0 * se or slope == 0.0:
        out["trend"] = "no clear change"
    else:
        out["trend"] = "improving" if good else "getting worse"
    if met:
        return out
    if not good or out["trend"] in ("no clear change", "getting worse") or se is None:
        out["status"] = "not on track"
        return out
    weeks = (target - intercept) / slope
    when = points[0][0] + weeks * WEEK_S
    if when - points[-1][0] > MAX_PROJECTION_DAYS * DAY_S:
        out["status"] = "not on track"
        return out
    out["projected"] = _date(max(when, points[-1][0]))
    by = goal.get("by")
    out["status"] = "on track" if by is None or out["projected"] <= by else "not on track"
    return out


async def student_progress(
    analyses: Analyses, rows: list[SessionRow], goals: list[dict[str, Any]]
) -> dict[str, Any]:
    """The goal metrics of every complete session (oldest first) and each goal's trend."""
    sessions = []
    series: dict[str, list[tuple[float, float]]] = {m: [] for m in GOAL_METRICS}
    for row in rows:
        if row.state != "complete":
            continue
        got = await analyses.values(row)
        for name, v in got["values"].items():
            if v is not None:
                series[name].append((row.started_at, v))
        sessions.append({"id": row.id, "started_at": row.started_at} | got)
    metrics = {
        m.name: {"unit": m.unit, "direction": m.direction, "description": m.description}
        for m in GOAL_METRICS.values()
    }
    trends = [goal | {"trend": goal_trend(goal, series[goal["metric"]])} for goal in goals]
    return {"metrics": metrics, "sessions": sessions, "goals": trends}
