"""Every metric the pen and grip summaries produce has a definition for the therapist
(finemotor.metrics.definitions), in the unit the library reports, from a section of
docs/metrics.md that exists; and a definition is found for a concrete hand, trial or minute."""

from __future__ import annotations

import re
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bench.sim_accuracy import sim_grip, sim_pen

from finemotor.metrics import GripContext, summarize_grip, summarize_pen, to_jsonable
from finemotor.metrics.definitions import (
    ANY,
    METRIC_DEFINITIONS,
    definitions_of,
    metric_definition,
    metric_paths,
)
from finemotor.metrics.grip import GripCore

ROOT = Path(__file__).resolve().parents[2]
FS = 320.0


def squeeze(t: np.ndarray, t0: float, peak: float, rise: float = 0.4, hold: float = 1.0) -> Any:
    """Raised-cosine rise, flat hold, raised-cosine release over 0.3 s."""
    x = t - t0
    up = 0.5 - 0.5 * np.cos(np.pi * np.clip(x / rise, 0, 1))
    down = 0.5 + 0.5 * np.cos(np.pi * np.clip((x - rise - hold) / 0.3, 0, 1))
    return np.where((x > 0) & (x < rise + hold + 0.3), peak * np.minimum(up, down), 0.0)


def pinches() -> Any:
    """Pinches before and after a writing task: the pinch's before, after and change."""
    t = np.arange(round(8 * FS)) / FS
    f = squeeze(t, 1.0, 30.0) + squeeze(t, 5.0, 27.0)
    ctx = [(0.0, GripContext("right", "pinch_pre")), (4.0, GripContext("right", "pinch_post"))]
    return summarize_grip(t, f, rate_hz=FS, contexts=ctx)


def squeezing() -> Any:
    """A grip recording so far, a squeeze still under way: its peak so far."""
    t = np.arange(round(3 * FS)) / FS
    core = GripCore(FS)
    core.push(t, squeeze(t, 1.0, 100.0, rise=0.5, hold=10.0))
    return core.summary()


@pytest.fixture(scope="module")
def summaries() -> dict[str, Any]:
    """JSON of pen and grip summaries: the simulated student's writing and tracing (strokes,
    barrel, tremor, minutes of endurance) and squeezes (trials, holds, steadiness, repeated
    squeezes, both hands); pinches around writing; a squeeze under way; a pen recording too
    slow to analyse and an uncalibrated grip."""
    pen, _ = sim_pen(1)
    grip, _ = sim_grip(1)
    t = np.arange(2000) / 50.0
    slow = summarize_pen(t, np.full(t.shape, 1.0), rate_hz=50.0)
    raw_t = np.arange(round(6 * FS)) / FS
    raw = summarize_grip(raw_t, 1000 * squeeze(raw_t, 1.0, 30.0), rate_hz=FS, unit="raw")
    return {
        "pen": to_jsonable(pen),
        "grip": to_jsonable(grip),
        "pinch": to_jsonable(pinches()),
        "squeezing": to_jsonable(squeezing()),
        "slow pen": to_jsonable(slow),
        "raw grip": to_jsonable(raw),
    }


def leaf(tree: Any, parts: tuple[str, ...]) -> dict[str, Any]:
    for p in parts:
        tree = tree[int(p)] if isinstance(tree, list) else tree[p]
    assert isinstance(tree, dict)
    return tree


def test_every_metric_of_the_summaries_has_a_definition_in_its_unit(
    summaries: dict[str, Any],
) -> None:
    used: set[str] = set()
    missing: list[str] = []
    for name, tree in summaries.items():
        for parts in metric_paths(tree):
            d = metric_definition(parts)
            if d is None:
                missing.append(f"{name}: {'.'.join(parts)}")
                continue
            used.add(d.path)
            m = leaf(tree, parts)
            if m["unit"] != "raw":
                assert m["unit"] == d.unit, (d.path, m)
            if "display" in m:
                assert d.display_unit == m["display"]["unit"], d.path
            elif m["value"] is not None and m["unit"] == "N":
                assert d.display_unit is None, d.path
    assert missing == [], "metrics without a definition in finemotor.metrics.definitions"
    # and no definition is left over for a metric the summaries no longer produce
    assert sorted(set(METRIC_DEFINITIONS) - used) == []
    assert len(METRIC_DEFINITIONS) == 74
    # what the page shows of a hand, a trial, a pen-down
    assert {"hands.*.mean_of_3", "trials.*.peak", "force.cv"} <= set(
        definitions_of(summaries["grip"]) | definitions_of(summaries["pen"])
    )


def test_each_definition_is_one_plain_sentence() -> None:
    jargon = ("coefficient", "hysteresis", "welch", "detrend", "least-squares", "rfd", "z-score")
    for path, d in METRIC_DEFINITIONS.items():
        assert d.path == path
        assert d.text[0].isupper() and d.text.endswith(".") and d.text.count(". ") == 0, path
        assert "\n" not in d.text and len(d.text) <= 240, path
        assert not [w for w in jargon if w in d.text.lower()], path
        assert d.to_json() == {"text": d.text, "doc": d.doc}


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation but hyphens and
    underscores dropped, each space a hyphen."""
    return re.sub(r"[^a-z0-9_\- ]", "", heading.lower()).replace(" ", "-")


def test_each_definition_names_a_section_of_the_metrics_document() -> None:
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    headings = [h.strip() for h in re.findall(r"^#{2,4} (.+)$", text, flags=re.MULTILINE)]
    anchors = {github_anchor(h) for h in headings}
    assert "55-per-hand" in anchors and "7-writing-endurance" in anchors
    for d in METRIC_DEFINITIONS.values():
        file, _, anchor = d.doc.partition("#")
        assert (ROOT / file).is_file(), d.doc
        assert d.section in headings, d.section
        assert anchor in anchors, d.doc


def test_a_concrete_hand_trial_or_minute_finds_its_definition() -> None:
    mean3 = METRIC_DEFINITIONS["hands.*.mean_of_3"]
    assert metric_definition("hands.right.mean_of_3") is mean3
    assert metric_definition(["hands", "unspecified", "mean_of_3"]) is mean3
    assert metric_definition("trials.12.rfd.0_50ms") is METRIC_DEFINITIONS["trials.*.rfd.0_50ms"]
    assert (
        metric_definition(("endurance", "bins", "3", "force_cv"))
        is METRIC_DEFINITIONS["endurance.bins.*.force_cv"]
    )
    assert metric_definition("force.cv") is METRIC_DEFINITIONS["force.cv"]
    assert mean3.doc == "docs/metrics.md#55-per-hand"
    assert mean3.unit == "N" and mean3.display_unit == "kgf"
    for nothing in ("hands.right", "hands.right.mean_of_3.value", "force", "force.nothing", ""):
        assert metric_definition(nothing) is None, nothing
    # no two entries could claim the same path, so the order of the lookup does not matter
    for a, b in combinations(METRIC_DEFINITIONS, 2):
        pa, pb = a.split("."), b.split(".")
        assert len(pa) != len(pb) or any(
            x != y and ANY not in (x, y) for x, y in zip(pa, pb, strict=True)
        ), (a, b)
