"""What each metric means, in one sentence for a therapist, written once.

Every metric of a pen or grip summary's JSON (``to_jsonable`` of a ``PenSummary`` or a
``GripSummary``) has a :class:`MetricDefinition`: what it measures, its unit and how to read
it, in the words of docs/metrics.md, and the section of that file it comes from.
:data:`METRIC_DEFINITIONS` maps dotted paths to them, a ``*`` part standing for a hand, a trial
or a minute (``hands.*.mean_of_3``, ``trials.*.peak``, ``endurance.bins.*.force_cv``);
:func:`metric_definition` finds a concrete path's, :func:`definitions_of` those of every metric
in a summary's JSON. Units are the library's (newtons); grip strengths are also shown in kgf.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

DOC = "docs/metrics.md"
"""The file the definitions come from (repository path)."""

ANY = "*"
"""A path part that matches any one part: a hand, a trial number or a minute number."""


def anchor(heading: str) -> str:
    """Return the link anchor a Markdown renderer gives a heading (as GitHub's: lower case,
    punctuation dropped, spaces as hyphens): ``"5.5 Per hand"`` gives ``"55-per-hand"``."""
    kept = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return kept.replace(" ", "-")


@dataclass(frozen=True)
class MetricDefinition:
    """One metric's meaning.

    Attributes:
        path: the dotted path in the summary's JSON, ``*`` for a hand, trial or minute part.
        text: what it measures, its unit and how to read it, in one sentence.
        section: the heading of docs/metrics.md it comes from (``"5.5 Per hand"``).
        unit: the unit the library reports it in (``"N"``, ``"%"``, ``"1"`` for a ratio...).
        display_unit: the unit it is also shown in (``"kgf"`` for grip strength), if any.
    """

    path: str
    text: str
    section: str
    unit: str
    display_unit: str | None = None

    @property
    def doc(self) -> str:
        """The section as a link target: ``docs/metrics.md#55-per-hand``."""
        return f"{DOC}#{anchor(self.section)}"

    def to_json(self) -> dict[str, str]:
        """Return ``{"text", "doc"}``, as the server's API gives it."""
        return {"text": self.text, "doc": self.doc}


_CONVENTIONS = "1. Conventions"
_TRIALS = "5.1 Trials, live and offline"
_TRIAL = "5.2 Per trial"
_HOLD = "5.3 Sustained hold"
_STEADY = "5.4 Steadiness at a target"
_HAND = "5.5 Per hand"
_NORMS = "5.6 Norms"
_FORCE = "6.2 Force"
_TIMING = "6.3 Timing"
_TREMOR = "6.4 Tremor"
_BARREL = "6.5 Barrel grip"
_ENDURANCE = "7. Writing endurance"


def _def(
    path: str, unit: str, section: str, text: str, display_unit: str | None = None
) -> MetricDefinition:
    return MetricDefinition(path, text, section, unit, display_unit)


_TABLE: tuple[MetricDefinition, ...] = (
    # both devices
    _def("quality.duration_s", "s", _CONVENTIONS, "Length of the recording, in seconds (s)."),
    # grip: the trigger (5.1)
    _def(
        "quality.trigger_on",
        "N",
        _TRIALS,
        "Force at which a squeeze counts as started, in newtons (N).",
    ),
    _def(
        "quality.trigger_off",
        "N",
        _TRIALS,
        "Force below which a squeeze counts as released, in newtons (N).",
    ),
    _def(
        "quality.peak_so_far",
        "N",
        _TRIALS,
        "Strongest force so far of a squeeze that is still going on, in newtons (N); the "
        "squeeze is measured once it is released.",
        "kgf",
    ),
    # grip: each trial (5.2)
    _def(
        "trials.*.peak",
        "N",
        _TRIAL,
        "Strongest force of this squeeze, in newtons (N), also shown in kilograms-force "
        "(kgf); higher is stronger.",
        "kgf",
    ),
    _def(
        "trials.*.peak_unfiltered",
        "N",
        _TRIAL,
        "Strongest force of this squeeze as recorded, without smoothing, in newtons (N), "
        "also shown in kilograms-force (kgf).",
        "kgf",
    ),
    _def(
        "trials.*.baseline",
        "N",
        _TRIAL,
        "Force on the handle just before the squeeze began, in newtons (N); near zero when "
        "the hand was relaxed.",
    ),
    _def(
        "trials.*.onset_threshold",
        "N",
        _TRIAL,
        "Force the squeeze had to rise above to count as started, in newtons (N): a little "
        "above the resting force.",
    ),
    _def(
        "trials.*.onset_s",
        "s",
        _TRIAL,
        "When the squeeze started, in seconds (s) from the start of the recording.",
    ),
    _def(
        "trials.*.offset_s",
        "s",
        _TRIAL,
        "When the squeeze ended (the force back down to where it started), in seconds (s) "
        "from the start of the recording.",
    ),
    _def(
        "trials.*.duration_s",
        "s",
        _TRIAL,
        "How long the squeeze lasted from start to end, in seconds (s).",
    ),
    _def(
        "trials.*.time_to_peak_s",
        "s",
        _TRIAL,
        "Time from the start of the squeeze to its strongest force, in seconds (s); shorter "
        "means full strength is reached sooner.",
    ),
    _def(
        "trials.*.rfd_20_80",
        "N/s",
        _TRIAL,
        "How fast the force rose in the middle of the squeeze (from 20% to 80% of the way to "
        "the peak), in newtons per second (N/s); higher means a quicker squeeze.",
    ),
    _def(
        "trials.*.rfd.0_50ms",
        "N/s",
        _TRIAL,
        "How fast the force rose in the first 50 milliseconds of the squeeze, in newtons per "
        "second (N/s); higher means a quicker start (needs fast sampling).",
    ),
    _def(
        "trials.*.rfd.0_100ms",
        "N/s",
        _TRIAL,
        "How fast the force rose in the first 100 milliseconds of the squeeze, in newtons per "
        "second (N/s); higher means a quicker start (needs fast sampling).",
    ),
    _def(
        "trials.*.rfd.0_200ms",
        "N/s",
        _TRIAL,
        "How fast the force rose in the first 200 milliseconds of the squeeze, in newtons per "
        "second (N/s); higher means a quicker start (needs fast sampling).",
    ),
    # grip: a sustained hold (5.3)
    _def(
        "trials.*.hold.hold_s",
        "s",
        _HOLD,
        "How long the squeeze was held, in seconds (s).",
    ),
    _def(
        "trials.*.hold.static_fatigue_index",
        "%",
        _HOLD,
        "How much the force fell from the peak to the last 3 seconds of the hold, in % of the "
        "peak; higher means the hand tired more.",
    ),
    _def(
        "trials.*.hold.fr75_s",
        "s",
        _HOLD,
        "Time from the peak until the force fell to 75% of it, in seconds (s); longer means "
        "the force was kept up better.",
    ),
    _def(
        "trials.*.hold.fr50_s",
        "s",
        _HOLD,
        "Time from the peak until the force fell to half of it, in seconds (s); longer means "
        "the force was kept up better.",
    ),
    _def(
        "trials.*.hold.fr25_s",
        "s",
        _HOLD,
        "Time from the peak until the force fell to 25% of it, in seconds (s); longer means "
        "the force was kept up better.",
    ),
    _def(
        "trials.*.hold.sustained_ratio",
        "1",
        _HOLD,
        "Average force from the peak to the end of the hold as a share of the peak (a ratio, "
        "1 = all of it); closer to 1 means the force was kept up.",
    ),
    # grip: steadiness (5.4)
    _def(
        "trials.*.steadiness.cv",
        "%",
        _STEADY,
        "How much the force wavered while it was held steady, in % of the held force; lower "
        "means a steadier hold.",
    ),
    _def(
        "trials.*.steadiness.mean",
        "N",
        _STEADY,
        "Average force during the steady part of the hold, in newtons (N).",
    ),
    _def(
        "trials.*.steadiness.target_error",
        "%",
        _STEADY,
        "How far the held force was from the target, in % of the target; above 0 is over the "
        "target, below 0 under it.",
    ),
    # grip: each hand (5.5, 5.6)
    _def(
        "hands.*.trials",
        "count",
        _HAND,
        "Number of squeezes and holds recorded with this hand.",
    ),
    _def(
        "hands.*.mean_of_3",
        "N",
        _HAND,
        "Average of this hand's first three maximum squeezes (the usual clinical grip-strength "
        "score), in newtons (N), also shown in kilograms-force (kgf).",
        "kgf",
    ),
    _def(
        "hands.*.max_of_3",
        "N",
        _HAND,
        "Strongest of this hand's first three maximum squeezes, in newtons (N), also shown in "
        "kilograms-force (kgf).",
        "kgf",
    ),
    _def(
        "hands.*.cv",
        "%",
        _HAND,
        "How much the peaks of this hand's first three maximum squeezes differ from each "
        "other, in % of their average; lower means a more consistent effort.",
    ),
    _def(
        "hands.*.norm",
        "SD",
        _NORMS,
        "This hand's grip strength against a published norm for the child's age and sex, in "
        "standard deviations from its average (0 is average); finemotor ships no norm, so it "
        "is shown only when one is supplied.",
    ),
    _def(
        "hands.*.squeezes",
        "count",
        _HAND,
        "Number of repeated squeezes with this hand.",
    ),
    _def(
        "hands.*.fatigue_index",
        "%",
        _HAND,
        "How much the force fell from the best of the first three repeated squeezes to the "
        "average of the last three, in % of the best; higher means the hand tired more.",
    ),
    _def(
        "hands.*.decay_slope",
        "%/squeeze",
        _HAND,
        "Average change of force from one repeated squeeze to the next, in % of the best early "
        "squeeze per squeeze; more negative means faster tiring.",
    ),
    _def(
        "pinch.before",
        "N",
        _HAND,
        "Strongest pinch before the writing task, in newtons (N), also shown in "
        "kilograms-force (kgf).",
        "kgf",
    ),
    _def(
        "pinch.after",
        "N",
        _HAND,
        "Strongest pinch after the writing task, in newtons (N), also shown in kilograms-force "
        "(kgf).",
        "kgf",
    ),
    _def(
        "pinch.change",
        "%",
        _HAND,
        "Change of pinch strength from before to after writing, in % of the strength before; "
        "below 0 means the fingers were weaker after writing.",
    ),
    # pen: force on the tip (6.2)
    _def(
        "force.mean",
        "N",
        _FORCE,
        "Average pressure of the pen tip on the paper while writing, in newtons (N); higher "
        "means pressing harder.",
    ),
    _def(
        "force.sd",
        "N",
        _FORCE,
        "How far the tip pressure typically strays from its average while writing, in "
        "newtons (N); larger means more uneven pressure.",
    ),
    _def(
        "force.cv",
        "%",
        _FORCE,
        "How much the tip pressure varies while writing, in % of its average; lower means "
        "steadier pressure.",
    ),
    _def(
        "force.within_stroke_cv",
        "%",
        _FORCE,
        "How much the pressure varies along each stroke, averaged over the strokes, in % of "
        "the stroke's average; lower means steadier pressure within a stroke.",
    ),
    _def(
        "force.between_stroke_cv",
        "%",
        _FORCE,
        "How much the strokes' average pressures differ from each other, in % of their "
        "average; lower means more even pressure from stroke to stroke.",
    ),
    _def(
        "force.fluidity",
        "1/s",
        _FORCE,
        "How often per second of writing the pressure turns from rising to falling or back "
        "(1/s); fewer turns means smoother, more fluent pressure.",
    ),
    # pen: timing (6.3)
    _def(
        "timing.strokes",
        "count",
        _TIMING,
        "Number of strokes, each a stretch of writing from putting the pen down to lifting it.",
    ),
    _def(
        "timing.pen_lifts",
        "count",
        _TIMING,
        "Number of times the pen was lifted between strokes (the strokes less one).",
    ),
    _def(
        "timing.on_paper_s",
        "s",
        _TIMING,
        "Total time the pen was on the paper, in seconds (s).",
    ),
    _def(
        "timing.in_air_s",
        "s",
        _TIMING,
        "Total time the pen was in the air between strokes, in seconds (s); pauses add to it.",
    ),
    _def(
        "timing.in_air_ratio",
        "1",
        _TIMING,
        "Time with the pen in the air divided by time on the paper (a ratio); higher means "
        "more time pausing between strokes.",
    ),
    _def(
        "timing.writing_time_s",
        "s",
        _TIMING,
        "Time from the start of the first stroke to the end of the last, in seconds (s).",
    ),
    _def(
        "timing.strokes_per_min",
        "1/min",
        _TIMING,
        "Strokes per minute of writing time (1/min): the pace of the writing.",
    ),
    _def(
        "timing.lifts_per_min",
        "1/min",
        _TIMING,
        "Pen lifts per minute of writing time (1/min).",
    ),
    # pen: tremor (6.4)
    _def(
        "tremor.share_4_12",
        "1",
        _TREMOR,
        "Share of the tip pressure's wobble that is a shake at 4-12 times a second (0 to 1); "
        "higher means more shaking, but in free writing the strokes themselves fall in this "
        "range.",
    ),
    _def(
        "tremor.share_8_12",
        "1",
        _TREMOR,
        "Share of the tip pressure's wobble that is a fine shake at 8-12 times a second (0 to "
        "1); higher means more tremor, and in free writing it is the cleaner tremor measure.",
    ),
    _def(
        "tremor.peak_hz_4_12",
        "Hz",
        _TREMOR,
        "How fast the strongest shake between 4 and 12 times a second is, in shakes per "
        "second (Hz).",
    ),
    _def(
        "tremor.peak_hz_8_12",
        "Hz",
        _TREMOR,
        "How fast the strongest shake between 8 and 12 times a second is, in shakes per "
        "second (Hz).",
    ),
    _def(
        "tremor.windows",
        "count",
        _TREMOR,
        "How many 2-second stretches of unbroken pen contact the tremor figures rest on; more "
        "stretches make them more reliable.",
    ),
    # pen: barrel grip (6.5)
    _def(
        "barrel.mean",
        "N",
        _BARREL,
        "Average squeeze of the fingers on the pen's barrel while writing, in newtons (N); "
        "higher means a tighter grip.",
    ),
    _def(
        "barrel.cv",
        "%",
        _BARREL,
        "How much the fingers' squeeze on the barrel varies while writing, in % of its "
        "average; lower means a steadier grip.",
    ),
    _def(
        "barrel.grip_to_axial",
        "1",
        _BARREL,
        "Finger squeeze on the barrel divided by tip pressure on the paper (a ratio); higher "
        "means gripping harder for the same pressure on the paper.",
    ),
    # pen: writing endurance, each minute (7)
    _def(
        "endurance.bins.*.duration_s",
        "s",
        _ENDURANCE,
        "Length of this minute of the recording, in seconds (s); the last one may be shorter.",
    ),
    _def(
        "endurance.bins.*.writing_rate",
        "1/min",
        _ENDURANCE,
        "Strokes started in this minute, per minute (1/min): the pace of the writing.",
    ),
    _def(
        "endurance.bins.*.mean_force",
        "N",
        _ENDURANCE,
        "Average tip pressure in this minute while writing, in newtons (N).",
    ),
    _def(
        "endurance.bins.*.force_cv",
        "%",
        _ENDURANCE,
        "How much the tip pressure varied in this minute, in % of its average; lower means "
        "steadier pressure.",
    ),
    _def(
        "endurance.bins.*.in_air_ratio",
        "1",
        _ENDURANCE,
        "Time with the pen in the air divided by time on the paper in this minute (a ratio).",
    ),
    _def(
        "endurance.bins.*.barrel_grip",
        "N",
        _ENDURANCE,
        "Average squeeze of the fingers on the barrel in this minute while writing, in "
        "newtons (N).",
    ),
)


def _trends() -> Iterator[MetricDefinition]:
    """Pen: writing endurance, each quantity's trend over the minutes (7)."""
    for name, what, caveat in (
        (
            "writing_rate",
            "the writing pace (strokes per minute)",
            "; a faster pace is not by itself better endurance",
        ),
        ("mean_force", "the average tip pressure", ""),
        ("force_cv", "the variation of the tip pressure", ""),
        ("in_air_ratio", "the time in the air against the time on the paper", ""),
        ("barrel_grip", "the fingers' squeeze on the barrel", ""),
    ):
        yield _def(
            f"endurance.trends.{name}.slope",
            "%/min",
            _ENDURANCE,
            f"How fast {what} changed over the writing task, in % of the first minute's value "
            f"per minute (%/min); above 0 means it rose{caveat}.",
        )
        yield _def(
            f"endurance.trends.{name}.decline",
            "%",
            _ENDURANCE,
            f"Change of {what} from the first two minutes to the last two, in % of the first "
            f"two; below 0 means it fell{caveat}.",
        )


METRIC_DEFINITIONS: Mapping[str, MetricDefinition] = MappingProxyType(
    {d.path: d for d in (*_TABLE, *_trends())}
)
"""Every metric's definition by its dotted path (``*`` for a hand, trial or minute part)."""


def _by_length() -> dict[int, list[tuple[tuple[str, ...], MetricDefinition]]]:
    out: dict[int, list[tuple[tuple[str, ...], MetricDefinition]]] = {}
    for d in METRIC_DEFINITIONS.values():
        parts = tuple(d.path.split("."))
        out.setdefault(len(parts), []).append((parts, d))
    return out


_BY_LENGTH = _by_length()


def _parts_of(path: str | Sequence[str]) -> tuple[str, ...]:
    return tuple(path.split(".")) if isinstance(path, str) else tuple(str(p) for p in path)


def metric_definition(path: str | Sequence[str]) -> MetricDefinition | None:
    """Return the definition of the metric at ``path``, or None if there is none.

    Args:
        path: dotted (``"hands.right.mean_of_3"``) or as parts (``["hands", "right",
            "mean_of_3"]``). An exact entry wins; otherwise an entry whose ``*`` parts stand
            for the path's hand, trial or minute part, all other parts equal.
    """
    parts = _parts_of(path)
    exact = METRIC_DEFINITIONS.get(".".join(parts))
    if exact is not None:
        return exact
    for pattern, d in _BY_LENGTH.get(len(parts), ()):
        if all(p in (ANY, q) for p, q in zip(pattern, parts, strict=True)):
            return d
    return None


def metric_paths(tree: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Yield the path (as parts) of every metric in a summary's JSON: every
    ``{"value", "unit", ...}`` object, through objects and lists (a list item's part is its
    index)."""
    if isinstance(tree, dict):
        if "value" in tree and "unit" in tree:
            yield prefix
            return
        for key, value in tree.items():
            yield from metric_paths(value, (*prefix, str(key)))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from metric_paths(value, (*prefix, str(i)))


def definitions_of(tree: Any) -> dict[str, MetricDefinition]:
    """Return the definitions of the metrics in a summary's JSON, by their entries' paths
    (``hands.*.mean_of_3`` once for both hands); a metric without one is left out."""
    out: dict[str, MetricDefinition] = {}
    for parts in metric_paths(tree):
        d = metric_definition(parts)
        if d is not None:
            out[d.path] = d
    return out
