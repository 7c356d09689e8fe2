"""Pen-down detection: hysteresis, then minimum lift and minimum stroke, streaming.

Rules, applied in this order: the pen is down from a tip sample ``>= on`` until a sample
``<= off``; a lift shorter than ``min_lift_s`` joins the strokes on either side; a stroke
(after joining) shorter than ``min_stroke_s`` is dropped. A stroke runs from its first
down sample's time to the first sample of the lift that ends it (or one sample period
after the last sample, at the end of a recording).

Labels become final with a delay of at most ``min_stroke_s + min_lift_s``: the segmenter
says up to which time every sample's label is final (:attr:`PenDownSegmenter.final_before`).
"""

from __future__ import annotations

import math
from enum import Enum

import numpy as np

from finemotor.metrics.config import EPS_S
from finemotor.metrics.hysteresis import F64, hysteresis, transitions


class _Mode(Enum):
    UP = 0
    PENDING = 1  # pen down, not yet long enough to be a stroke
    STROKE = 2  # a confirmed stroke


class PenDownSegmenter:
    """Streaming pen-down segmentation.

    Attributes:
        strokes: confirmed strokes as ``[start, end]`` lists (``end`` is ``inf`` while the
            stroke is open). The owner removes those it has finished with.
    """

    def __init__(self, on: float, off: float, min_stroke_s: float, min_lift_s: float) -> None:
        self.on, self.off = on, off
        self.min_stroke_s, self.min_lift_s = min_stroke_s, min_lift_s
        self.strokes: list[list[float]] = []
        self._raw = False
        self._mode = _Mode.UP
        self._start = math.nan
        self._lift: float | None = None
        self._t_last: float | None = None

    @property
    def raw_down(self) -> bool:
        """The hysteresis state after the latest sample (before the duration rules)."""
        return self._raw

    @property
    def final_before(self) -> float:
        """Every sample with a time before this has its final label."""
        if self._mode is _Mode.PENDING:
            return self._start
        if self._lift is not None:
            return self._lift
        return math.inf

    def push(self, t: F64, x: F64) -> None:
        """Add samples (times ``t`` increasing, tip force ``x``)."""
        if t.shape[0] == 0:
            return
        states = hysteresis(x, self.on, self.off, self._raw)
        for i in transitions(states, self._raw):
            if states[i]:
                self._down(float(t[i]))
            else:
                self._up(float(t[i]))
        self._raw = bool(states[-1])
        self._t_last = float(t[-1])
        self._settle(self._t_last)

    def finish(self, t_end: float) -> None:
        """Close the recording at ``t_end`` (one sample period after the last sample)."""
        if self._lift is None and self._mode is not _Mode.UP:
            self._lift = t_end
        if self._lift is not None:
            self._end_stroke()
        self._raw = False

    def _down(self, t: float) -> None:
        if self._mode is _Mode.UP:
            self._mode, self._start, self._lift = _Mode.PENDING, t, None
            return
        assert self._lift is not None
        if t - self._lift >= self.min_lift_s - EPS_S:  # a real lift: the stroke ended
            self._end_stroke()
            self._mode, self._start = _Mode.PENDING, t
        else:  # a short lift: bridged
            self._lift = None

    def _up(self, t: float) -> None:
        if self._mode is not _Mode.UP:
            self._lift = t

    def _settle(self, t_now: float) -> None:
        if self._lift is not None and t_now - self._lift >= self.min_lift_s - EPS_S:
            self._end_stroke()
        if (
            self._mode is _Mode.PENDING
            and self._raw
            and t_now - self._start >= self.min_stroke_s - EPS_S
        ):
            self._mode = _Mode.STROKE
            self.strokes.append([self._start, math.inf])

    def _end_stroke(self) -> None:
        assert self._lift is not None
        end = self._lift
        if self._mode is _Mode.STROKE:
            self.strokes[-1][1] = end
        elif end - self._start >= self.min_stroke_s - EPS_S:
            self.strokes.append([self._start, end])
        self._mode, self._lift = _Mode.UP, None


def label(t: F64, strokes: list[list[float]]) -> np.ndarray:
    """Return, per sample, the index into ``strokes`` of the stroke it is in, or -1."""
    out = np.full(t.shape[0], -1, dtype=np.intp)
    for k, (start, end) in enumerate(strokes):
        a, b = np.searchsorted(t, [start, end], side="left")
        out[a:b] = k
    return out
