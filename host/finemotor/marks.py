"""What the therapist's marks mean to the analysis: one reading for the live view and reports."""

from __future__ import annotations

import re

from finemotor.metrics.config import GripContext

_HAND = re.compile(r"\b(right|left)\s+hand\b", re.IGNORECASE)


def hand_context(text: str) -> GripContext | None:
    """The grip context a mark sets ("right hand", "Left hand, trial 2"...); None if it names
    no hand. The task stays ``auto``: maximal trials and holds are told apart by the data."""
    found = _HAND.search(text)
    if found is None:
        return None
    return GripContext(hand="right" if found.group(1).lower() == "right" else "left")
