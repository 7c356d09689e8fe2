"""One rule for the pseudonymous student id, wherever a session takes it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from finemotor.errors import FinemotorError, RecordingError
from finemotor.recording import Recorder, Recording
from finemotor.relay import PublishedSession
from finemotor.student import STUDENT_ID_MAX, student_id_problem, valid_student_id

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_an_id_the_recording_takes_the_relay_takes_and_the_reverse(tmp_path: Path) -> None:
    long_id = "S-" + "7" * 40  # was refused by the relay (32 at most) but recorded
    assert PublishedSession.new(long_id, ttl_s=60.0).student == long_id
    with Recorder(tmp_path / "r.sqlite", student=long_id):
        pass
    with Recording(tmp_path / "r.sqlite") as rec:
        assert rec.list_sessions()[0].student == long_id
    for bad in ("Jane Smith", "_S1", "x" * 65, ""):
        with pytest.raises(FinemotorError):
            PublishedSession.new(bad, ttl_s=60.0)
        with pytest.raises(RecordingError, match="pseudonymous"):
            Recorder(tmp_path / "bad.sqlite", student=bad)


@pytest.mark.parametrize(
    "bad", ["S-1\n", "S-1\r\n", "\nS-1", "S-\t1", "S-1\x00", "S-1\u2028", "S" + "1" * 64, "S-1 "]
)
def test_the_whole_id_must_match_no_control_characters_no_trailing_newline(
    bad: str, tmp_path: Path
) -> None:
    assert not valid_student_id(bad)
    assert student_id_problem(bad) is not None
    with pytest.raises(FinemotorError):
        PublishedSession.new(bad, ttl_s=60.0)
    with pytest.raises(RecordingError, match="pseudonymous"):
        Recorder(tmp_path / "bad.sqlite", student=bad)
    assert not (tmp_path / "bad.sqlite").exists()


def test_the_longest_id_is_the_same_everywhere(tmp_path: Path) -> None:
    longest = "S" * STUDENT_ID_MAX
    assert valid_student_id(longest) and not valid_student_id(longest + "1")
    assert PublishedSession.new(longest, ttl_s=60.0).student == longest
    with Recorder(tmp_path / "r.sqlite", student=longest):
        pass
    for doc in ("therapist-view.md", "recording.md", "security.md", "facilitator.md"):
        text = (DOCS / doc).read_text()
        assert "{1,32}" not in text and "at most 32" not in text, doc


def test_a_session_with_a_bad_id_is_refused_before_anything_is_recorded(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    out = subprocess.run(
        [sys.executable, "-m", "finemotor", "session", "--student", "S-1\n", "--sim", "--db", db],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1
    assert "not a pseudonymous student id" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not db.exists()
