"""A check's verdict: ``ok``, ``problem`` with a one-line fix, or ``note`` (something the check
cannot see, with what to do if it goes wrong)."""

from __future__ import annotations

from dataclasses import dataclass

OK, PROBLEM, NOTE = "ok", "problem", "note"


@dataclass(frozen=True)
class Check:
    """One check's verdict.

    Attributes:
        name: short and stable (``"bluetooth-adapter"``).
        title: what was checked, for people.
        status: ``"ok"``, ``"problem"`` or ``"note"``.
        detail: what was found.
        fix: one line that says what to do (None when ok).
    """

    name: str
    title: str
    status: str
    detail: str
    fix: str | None = None

    @property
    def ok(self) -> bool:
        """True unless this is a problem."""
        return self.status != PROBLEM
