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
