"""Every admin action as a command, on both databases, as a school's IT would script it."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import pytest
from server_helpers import PASSWORD, Db, record, world
from tests.host.aiotest import run

from finemotor.cli import main
from finemotor.sync.uploader import Uploader


def _fm(args: list[str], capsys: pytest.CaptureFixture[str], stdin: str = "") -> tuple[int, str]:
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(args)
    finally:
        sys.stdin = old
    out = capsys.readouterr()
    return code, out.out + out.err


def test_admin_commands(db: Db, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = list(db.args)
    code, out = _fm(
        ["server", "user", "add", "ot@x.example", "--role", "therapist", *d],
        capsys,
        PASSWORD + "\n",
    )
    assert code == 0 and "added therapist ot@x.example" in out
    code, out = _fm(
        ["server", "user", "add", "b@x.example", "--role", "therapist", *d], capsys, "short\n"
    )
    assert code == 1 and "at least 10 characters" in out and "Traceback" not in out
    with pytest.raises(SystemExit):  # a password is never an argument
        main(["server", "user", "add", "c@x.example", "--role", "admin", "--password", "x", *d])
    capsys.readouterr()
    assert _fm(["server", "school", "add", "Oak  Primary", *d], capsys)[0] == 0
    assert _fm(["server", "school", "list", *d], capsys)[1] == "Oak Primary\n"
    code, out = _fm(
        ["server", "caseload", "add", "ot@x.example", "S-1", "--school", "Oak Primary", *d], capsys
    )
    assert code == 0 and "S-1 (at Oak Primary) is on ot@x.example's caseload" in out
    code, out = _fm(
        ["server", "caseload", "add", "ot@x.example", "S-1", "--school", "Nowhere", *d], capsys
    )
    assert code == 1 and "no school 'Nowhere'" in out and "school add" in out
    code, out = _fm(["server", "enrol-code", "--school", "Oak Primary", *d], capsys)
    assert code == 0 and "finemotor enrol --server URL --code" in out
    code, out = _fm(["server", "user", "list", *d], capsys)
    assert code == 0 and "ot@x.example" in out and "1 student(s): Oak Primary" in out
    code, out = _fm(["server", "retention", *d], capsys)
    assert code == 0 and "no retention set here" in out
    code, out = _fm(["server", "retention", "--days", "7", *d], capsys)
    assert code == 1 and "from 30 to 36500" in out and "Traceback" not in out
    code, out = _fm(["server", "retention", "--days", "365", *d], capsys)
    assert code == 0 and "older than 365 days are deleted every hour" in out
    assert "older than 365 days" in _fm(["server", "retention", *d], capsys)[1]
    assert "every session is kept" in _fm(["server", "retention", "--keep-all", *d], capsys)[1]
    code, out = _fm(["server", "audit", *d], capsys)
    assert code == 0 and "add_caseload" in out and "command line" in out
    assert "keep all sessions" in out and "keep sessions 365 days" in out


def test_revoke_export_and_delete_from_the_command_line(
    db: Db, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def setup() -> None:
        w = await world(db.url)
        try:
            desk_db = tmp_path / "desk.sqlite"
            record(desk_db)
            (state,) = await Uploader(w.desk, desk_db).sync()
            assert state.state == "complete"
        finally:
            await w.server.stop()

    run(setup())
    d = list(db.args)
    code, out = _fm(["server", "desk", "list", *d], capsys)
    assert code == 0 and "desk 1" in out and "active" in out
    code, out = _fm(["server", "desk", "revoke", "1", *d], capsys)
    assert code == 0 and "revoked" in out
    assert "revoked" in _fm(["server", "desk", "list", *d], capsys)[1]
    archive = tmp_path / "S-1.zip"
    code, out = _fm(
        [
            "server",
            "student",
            "export",
            "S-1",
            "--out",
            str(archive),
            "--reason",
            "records request",
            *d,
        ],
        capsys,
    )
    assert code == 0
    names = zipfile.ZipFile(archive).namelist()
    assert "student.json" in names and any(n.endswith("grip.csv") for n in names)
    code, out = _fm(["server", "student", "delete", "S-1", "--reason", "family asked", *d], capsys)
    assert code == 1 and "--yes" in out  # not a terminal: it will not guess
    code, out = _fm(
        ["server", "student", "delete", "S-1", "--reason", "family asked", "--yes", *d], capsys
    )
    assert code == 0 and "1 session(s), 1000 samples" in out and "pseudonym" in out
    code, out = _fm(["server", "audit", "--student", "S-1", *d], capsys)
    assert out == ""  # what remains is under the pseudonym
    code, out = _fm(
        ["server", "student", "export", "S-1", "--out", str(archive), "--reason", "again", *d],
        capsys,
    )
    assert code == 1 and "no student 'S-1'" in out


def test_an_unreachable_database_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql://fm:hunter2-secret@/nodb?host={tmp_path}"
    code, out = _fm(["server", "school", "list", "--database", url], capsys)
    assert code == 1
    assert "cannot be reached" in out and "check that PostgreSQL is running" in out
    assert "hunter2" not in out and "Traceback" not in out
