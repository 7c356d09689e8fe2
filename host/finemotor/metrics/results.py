"""Result types: every value carries its unit, and an absent value carries its reason."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from finemotor.units import KGF_N

__all__ = ["KGF_N"]

# Unit strings used in results.
NEWTON = "N"
RAW = "raw"
SECOND = "s"
HERTZ = "Hz"
PERCENT = "%"
RATIO = "1"
COUNT = "count"
PER_MINUTE = "1/min"
PER_SECOND = "1/s"
NEWTON_PER_S = "N/s"
PERCENT_PER_MIN = "%/min"
PERCENT_PER_SQUEEZE = "%/squeeze"


@dataclass(frozen=True)
class Metric:
    """One reported value with its unit, or its absence with the reason.

    Attributes:
        value: the number, or None when the data cannot support the metric.
        unit: the unit of ``value`` (``"N"``, ``"s"``, ``"%"``, ``"1"`` for ratios...).
        reason: why ``value`` is None (always set when it is).
        note: a caveat a reader must see next to the value, if any.
        display_unit: a unit to also show the value in (``"kgf"`` for grip strength).
    """

    value: float | int | None
    unit: str
    reason: str | None = None
    note: str | None = None
    display_unit: str | None = None

    @property
    def present(self) -> bool:
        """True if the metric has a value."""
        return self.value is not None

    def to_json(self) -> dict[str, Any]:
        """Return ``{"value", "unit"}`` plus ``reason``, ``note`` and ``display`` when set."""
        out: dict[str, Any] = {"value": self.value, "unit": self.unit}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.note is not None:
            out["note"] = self.note
        if self.display_unit == "kgf" and self.value is not None and self.unit == NEWTON:
            out["display"] = {"value": self.value / KGF_N, "unit": "kgf"}
        return out


def present(
    value: float, unit: str, note: str | None = None, display_unit: str | None = None
) -> Metric:
    """Return a metric with a value; a non-finite value becomes absent.

    Args:
        value: the number.
        unit: its unit.
        note: a caveat to show with it.
        display_unit: an extra unit to show it in (``"kgf"``).
    """
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return Metric(int(value), unit, None, note, display_unit)
    v = float(value)
    if not math.isfinite(v):
        return absent(unit, "not computable from this data (non-finite result)")
    return Metric(v, unit, None, note, display_unit)


def absent(unit: str, reason: str) -> Metric:
    """Return a metric the data cannot support, with the reason."""
    return Metric(None, unit, reason)


def maybe(value: float | None, unit: str, reason: str, note: str | None = None) -> Metric:
    """Return ``present(value)`` if value is a finite number, else ``absent(reason)``."""
    if value is None or not math.isfinite(value):
        return absent(unit, reason)
    return present(value, unit, note)


def to_jsonable(obj: Any) -> Any:
    """Turn result dataclasses, metrics, tuples and mappings into JSON-ready values.

    A dataclass field is left out if its metadata says ``"json": False``, or
    ``"json_omit_none": True`` and it is None.
    """
    if isinstance(obj, Metric):
        return obj.to_json()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.metadata.get("json", True) and not (
                value is None and f.metadata.get("json_omit_none", False)
            ):
                out[f.name] = to_jsonable(value)
        return out
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj
