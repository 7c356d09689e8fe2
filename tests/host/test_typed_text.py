"""Typed text is text: marks and notes go through recording, report and export as typed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_report_data import Session, record

from finemotor.cli import main
from finemotor.marks import MARK_CHARS, clean_mark_text
from finemotor.recording import Recording
from finemotor.report.session_report import session_report

SQUEEZE = [("right", 1.5, 150.0)]


def test_a_mark_that_looks_like_mathtext_is_drawn_as_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "rec.sqlite"
    text = r"$\undefinedcommand{x}$ and $x^2$ \n 50 % & {braces}"
    sid = record(
        db,
        Session(
            grip_squeezes=SQUEEZE,
            grip_seconds=4.0,
            pen_seconds=4.0,
            pen_marks=[(1.0, text)],
            note=r"note $\frac{1}{0}$",
        ),
    )
    out = tmp_path / "out"
    assert main(["report", str(sid), "--db", str(db), "--out", str(out), "--pdf"]) == 0
    files = sorted(p.suffix for p in out.iterdir())
    assert files == [".pdf", ".png"]
    assert all(p.stat().st_size > 10_000 for p in out.iterdir())
    with Recording(db) as rec:
        assert text in [e.data["text"] for e in rec.events(sid, "mark")]


@pytest.mark.slow  # 15 whole reports (PNG and PDF): about 10 s of CPU
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=st.text(min_size=1, max_size=400))
def test_any_text_survives_recording_report_and_export(tmp_path: Path, text: str) -> None:
    db = tmp_path / f"rec-{abs(hash(text))}.sqlite"
    db.unlink(missing_ok=True)
    sid = record(db, Session(pen_seconds=3.0, pen_marks=[(1.0, text)], note=text[:100]))
    with Recording(db) as rec:
        stored = [e.data["text"] for e in rec.events(sid, "mark")]
        assert stored == [text]
        assert rec.session(sid).note == text[:100]
    paths = session_report(db, sid, tmp_path / f"out-{sid}-{abs(hash(text))}", pdf=True)
    assert {p.suffix for p in paths} == {".png", ".pdf"}
    exported = tmp_path / "export.json"
    assert (
        main(["export", str(sid), "--db", str(db), "--format", "json", "--out", str(exported)]) == 0
    )
    events = json.loads(exported.read_text(encoding="utf-8"))["events"]
    assert [e["data"]["text"] for e in events] == [text]


@given(text=st.text(alphabet=st.characters(codec=None), max_size=600))
def test_what_the_relay_keeps_of_a_mark_is_valid_text_without_control_characters(
    text: str,
) -> None:
    clean = clean_mark_text(text)
    clean.encode("utf-8")  # never a lone surrogate
    assert len(clean) <= MARK_CHARS
    assert not any(c in clean for c in "\n\r\t\x00\x1b")
    assert clean == clean.strip()
    kept = "".join(c for c in text if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF)
    if kept == text and kept == kept.strip() and len(text) <= MARK_CHARS:
        assert clean == text  # ordinary text is kept exactly


def test_surrogates_and_controls_are_replaced_not_refused() -> None:
    assert clean_mark_text("a\ud800b") == "a\ufffdb"
    assert clean_mark_text("  line\nbreak\ttab\x00nul  ") == "line break tab nul"
    assert clean_mark_text("x" * 500) == "x" * MARK_CHARS
