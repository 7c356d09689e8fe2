"""The pseudonymous student id: one rule wherever an id is taken (recording, relay, goals)."""

from __future__ import annotations

import re

_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def valid_student_id(student: str) -> bool:
    """True if ``student`` has the form of a pseudonym: 1-64 letters, digits, ``-``, ``_`` or
    ``.``, starting with a letter or digit (no spaces). The form only: a school's key from
    pseudonym to child stays outside finemotor."""
    return bool(_STUDENT_ID.match(student))
