"""One rule for the pseudonymous student id, wherever a session takes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from finemotor.errors import FinemotorError, RecordingError
from finemotor.recording import Recorder, Recording
from finemotor.relay import PublishedSession


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
