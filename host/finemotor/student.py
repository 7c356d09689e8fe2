"""The pseudonymous student id: one rule wherever an id is taken (command line, recording,
relay, goals), and one sentence that explains it."""

from __future__ import annotations

import re

STUDENT_ID_MAX = 64
"""Longest student id, in characters."""
STUDENT_ID_RULE = (
    f"1-{STUDENT_ID_MAX} letters, digits, '-', '_' or '.', starting with a letter or digit "
    "(no spaces or line breaks), never the student's name"
)
"""The rule in words, for error messages and help."""

_STUDENT_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.\-]{{0,{STUDENT_ID_MAX - 1}}}")


def valid_student_id(student: str) -> bool:
    """True if the whole of ``student`` has the form of a pseudonym (:data:`STUDENT_ID_RULE`).
    The form only: a school's key from pseudonym to child stays outside finemotor."""
    return isinstance(student, str) and _STUDENT_ID.fullmatch(student) is not None


def student_id_problem(student: str) -> str | None:
    """What is wrong with ``student`` as an id, in one sentence; None if it is valid."""
    if valid_student_id(student):
        return None
    return f"{student!r} is not a pseudonymous student id: use {STUDENT_ID_RULE}"
