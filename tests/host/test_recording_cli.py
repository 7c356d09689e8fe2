"""``finemotor sessions`` and ``finemotor export``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from finemotor.cli import main
from finemotor.recording import Recorder, Recording
from finemotor.samples import SampleBlock


def _record(db: Path) -> None:
    with Recorder(db, student="S-7") as rec:
        for i in range(20):
            seq = np.arange(16 * i, 16 * i + 16, dtype=np.int64)
            t = 3.0 + seq / 320.0 + 1e-10 * np.cos(seq)
            rec.add_block(
                "grip",
                SampleBlock("grip", ("force",), seq, t, (seq * -999).astype(np.int32)[:, None]),
            )
        seq = np.arange(5, 45, dtype=np.int64)
        counts = np.stack([seq, -seq, seq * 3], axis=1).astype(np.int32)
        rec.add_block(
            "stylus", SampleBlock("stylus", ("tip", "side_a", "side_b"), seq, seq / 200.0, counts)
        )
        rec.add_event("mark", {"label": "start"}, device="grip", device_t=3.5)


def test_sessions_lists_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "r.sqlite"
    assert main(["sessions", "--db", str(db)]) == 0
    assert "no sessions recorded" in capsys.readouterr().out
    _record(db)
    assert main(["sessions", "--db", str(db), "--json"]) == 0
    (s,) = json.loads(capsys.readouterr().out)
    assert s["id"] == 1 and s["student"] == "S-7" and s["samples"] == {"grip": 320, "stylus": 40}
    assert main(["sessions", "--db", str(db)]) == 0
    assert "S-7" in capsys.readouterr().out


def test_export_csv_matches_the_recording(tmp_path: Path) -> None:
    db, out = tmp_path / "r.sqlite", tmp_path / "s.csv"
    _record(db)
    assert main(["export", "1", "--format", "csv", "--db", str(db), "--out", str(out)]) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["device", "seq", "device_t_s", "force", "tip", "side_a", "side_b"]
    with Recording(db) as rec:
        for device, channels in (("grip", ("force",)), ("stylus", ("tip", "side_a", "side_b"))):
            mine = [r for r in rows if r["device"] == device]
            s = rec.load_samples(1, device)
            np.testing.assert_array_equal([int(r["seq"]) for r in mine], s.seq)
            np.testing.assert_array_equal([float(r["device_t_s"]) for r in mine], s.t)  # exact
            got = np.array([[int(r[c]) for c in channels] for r in mine])
            np.testing.assert_array_equal(got, s.counts)


def test_export_json_has_samples_events_and_devices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.sqlite"
    _record(db)
    assert main(["export", "1", "--format", "json", "--db", str(db)]) == 0
    doc = json.loads(capsys.readouterr().out)
    grip = doc["devices"][0]
    assert grip["name"] == "grip" and grip["samples"]["seq"][:3] == [0, 1, 2]
    assert grip["samples"]["counts"]["force"][1] == -999
    assert doc["events"][0]["data"] == {"label": "start"}


def test_export_of_an_unknown_session_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.sqlite"
    _record(db)
    assert main(["export", "9", "--db", str(db)]) == 1
    assert "no session 9" in capsys.readouterr().err
    assert main(["export", "1", "--db", str(tmp_path / "none.sqlite")]) == 1
    assert "no recording here yet" in capsys.readouterr().err


def test_deleting_a_session_removes_its_samples_from_the_file_and_keeps_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.sqlite"
    _record(db)
    _record(db)
    needle = (np.arange(16, dtype=np.int64) * -999).astype("<i4").tobytes()[8:40]
    assert main(["sessions", "--db", str(db), "--delete", "1"]) == 1  # not at a terminal
    assert "--yes" in capsys.readouterr().err
    assert main(["sessions", "--db", str(db), "--delete", "1", "--yes"]) == 0
    assert "deleted session 1" in capsys.readouterr().out
    with Recording(db) as rec:
        assert [s.id for s in rec.list_sessions()] == [2]
        assert rec.events(2, "mark") and len(rec.load_samples(2, "grip").seq) == 320
        assert rec.query("SELECT count(*) FROM blocks")[0][0] == 21
    # Compacted: one copy of the bytes is left (session 2's), none in free pages.
    assert db.read_bytes().count(needle) == 1
    assert main(["sessions", "--db", str(db), "--delete", "1", "--yes"]) == 1
    assert "no session 1" in capsys.readouterr().err
