"""What the therapist's marks mean to the analysis: one reading for the live view and reports."""

from __future__ import annotations

import re
import unicodedata

from finemotor.metrics.config import GripContext

_HAND = re.compile(r"\b(right|left)\s+hand\b", re.IGNORECASE)


def hand_context(text: str) -> GripContext | None:
    """The grip context a mark sets ("right hand", "Left hand, trial 2"...); None if it names
    no hand. The task stays ``auto``: maximal trials and holds are told apart by the data."""
    found = _HAND.search(text)
    if found is None:
        return None
    return GripContext(hand="right" if found.group(1).lower() == "right" else "left")


MARK_CHARS = 200
"""Longest text of a marked event, in characters."""
_CLEAN = {"Cc": " ", "Cs": "\ufffd"}  # control characters; lone surrogates


def clean_mark_text(text: str, limit: int = MARK_CHARS) -> str:
    """A mark's text as it is kept: valid Unicode (a lone surrogate becomes U+FFFD), control
    characters (line breaks, tabs, NUL...) as spaces, outer spaces stripped, at most ``limit``
    characters. Nothing else is changed: ``$`` or ``\\`` are text, never markup."""
    return "".join(_CLEAN.get(unicodedata.category(c), c) for c in text).strip()[:limit]


PLAN_TASKS = 20
"""Most tasks in one session plan."""
TASK_CHARS = 160
"""Longest text of a planned task (its mark, ``Task 12: ...``, stays within
:data:`MARK_CHARS`)."""


def task_plan_problem(tasks: object) -> str | None:
    """Why ``tasks`` is not a session plan (a list of 1 to :data:`PLAN_TASKS` texts, each of
    1 to :data:`TASK_CHARS` characters once cleaned), or None if it is one."""
    if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
        return "a plan is a list of tasks, each a text"
    if len(tasks) > PLAN_TASKS:
        return f"a plan has at most {PLAN_TASKS} tasks"
    for n, task in enumerate(tasks, 1):
        text = clean_mark_text(task)
        if not text:
            return f"task {n} is empty"
        if len(clean_mark_text(task, len(task))) > TASK_CHARS:
            return f"task {n} is longer than {TASK_CHARS} characters"
    return None
