"""Metrics: grip force, pen pressure variability and writing endurance, live and offline.

The live engines (:class:`PenEngine`, :class:`GripEngine`) take SampleBlocks and the device's
calibration; the offline summaries (:func:`summarize_pen`, :func:`summarize_grip`,
:func:`summarize_block`) take whole recordings. Both run the same streaming cores, so at the
end of a recording the live values equal the offline ones. Definitions and sources:
docs/metrics.md.
"""

from typing import TYPE_CHECKING

from finemotor._lazy import lazy_exports

if TYPE_CHECKING:
    from finemotor.metrics.config import GripConfig, GripContext, PenConfig
    from finemotor.metrics.grip import GripCore, GripSummary
    from finemotor.metrics.grip_trial import GripTrial
    from finemotor.metrics.live import GripEngine, LiveSnapshot, PenEngine
    from finemotor.metrics.norms import NormRow, NormTable
    from finemotor.metrics.pen import PenCore, PenSummary
    from finemotor.metrics.results import KGF_N, Metric, to_jsonable
    from finemotor.metrics.summary import (
        raw_grip_config,
        raw_pen_config,
        summarize_block,
        summarize_grip,
        summarize_pen,
    )

__all__ = [
    "KGF_N",
    "GripConfig",
    "GripContext",
    "GripCore",
    "GripEngine",
    "GripSummary",
    "GripTrial",
    "LiveSnapshot",
    "Metric",
    "NormRow",
    "NormTable",
    "PenConfig",
    "PenCore",
    "PenEngine",
    "PenSummary",
    "raw_grip_config",
    "raw_pen_config",
    "summarize_block",
    "summarize_grip",
    "summarize_pen",
    "to_jsonable",
]

_EXPORTS = {
    "GripConfig": "finemotor.metrics.config",
    "GripContext": "finemotor.metrics.config",
    "PenConfig": "finemotor.metrics.config",
    "GripCore": "finemotor.metrics.grip",
    "GripSummary": "finemotor.metrics.grip",
    "GripTrial": "finemotor.metrics.grip_trial",
    "GripEngine": "finemotor.metrics.live",
    "LiveSnapshot": "finemotor.metrics.live",
    "PenEngine": "finemotor.metrics.live",
    "NormRow": "finemotor.metrics.norms",
    "NormTable": "finemotor.metrics.norms",
    "PenCore": "finemotor.metrics.pen",
    "PenSummary": "finemotor.metrics.pen",
    "KGF_N": "finemotor.metrics.results",
    "Metric": "finemotor.metrics.results",
    "to_jsonable": "finemotor.metrics.results",
    "raw_grip_config": "finemotor.metrics.summary",
    "raw_pen_config": "finemotor.metrics.summary",
    "summarize_block": "finemotor.metrics.summary",
    "summarize_grip": "finemotor.metrics.summary",
    "summarize_pen": "finemotor.metrics.summary",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
