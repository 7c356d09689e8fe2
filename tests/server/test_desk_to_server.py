"""The whole way from a desk to the therapist, as people run it, on both databases:

a server; an admin, two therapists, schools and a caseload added with the admin commands; a
desk enrolled with a code; a simulated session at the desk; the server killed while the
session runs (and its upload is due) and started again; ``finemotor sync``; the therapist sees
the session with the desk's sample counts, another therapist gets 404.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from processes import FM, ServerProcess, _cli, _free_port, _people, start_session, sync_json
from server_helpers import Db, browser, record, sign_in
from tests.host.aiotest import run

from finemotor.recording import Recording
from finemotor.sync import wire
from finemotor.sync.credential import load_credential
from finemotor.sync.uploader import Uploader, upload_states


async def _therapist_view(url: str) -> tuple[Any, int]:
    async with browser() as mine, browser() as other:
        await sign_in(mine, url, "ot@district.example")
        await sign_in(other, url, "ot2@district.example")
        async with mine.get(f"{url}/api/students/S-1/sessions") as r:
            assert r.status == 200
            sessions = await r.json()
        async with other.get(f"{url}/api/students/S-1/sessions") as r:
            refused = r.status
    return sessions, refused


@pytest.mark.slow
def test_a_desk_session_reaches_the_therapist_through_a_server_restart(
    db: Db, tmp_path: Path
) -> None:
    server_env = {**os.environ, "FINEMOTOR_DATA": str(tmp_path / "server-side")}
    desk_env = {**os.environ, "FINEMOTOR_DATA": str(tmp_path / "desk")}
    server = ServerProcess(db, _free_port(), server_env)
    server.start()
    try:
        code = _people(db, server_env)
        out = _cli(
            "enrol", "--server", server.url, "--code", code, "--name", "Room 4", env=desk_env
        )
        assert "enrolled at Oak Primary" in out
        session, seen = start_session(desk_env, 20.0)
        assert any("live in her workspace" in line for line in seen), seen
        time.sleep(5.0)
        server.kill()  # mid-session: the live view and the upload lose their server
        rest, err = session.communicate(timeout=180)
        assert session.returncode == 0, err
        assert "Server: saved on this computer, not yet on the server" in rest
        assert "Traceback" not in err
        server.start()
        state = sync_json(desk_env)
        assert state["state"] == "complete" and state["student"] == "S-1"
        listed = _cli("sessions", env=desk_env)
        assert "on the server" in listed
        with Recording(tmp_path / "desk" / "recordings.sqlite") as rec:
            desk_counts = rec.list_sessions()[0].samples
        assert desk_counts["stylus"] > 0 and desk_counts["grip"] > 0
        sessions, refused = run(_therapist_view(server.url))
        (s,) = sessions
        assert {d["name"]: d["samples"] for d in s["devices"]} == desk_counts
        assert s["state"] == "complete" and s["duration_s"] >= 20.0
        assert refused == 404
    finally:
        server.stop()


@pytest.mark.slow
def test_an_upload_killed_midway_resumes_without_duplicates(
    db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server is killed after some chunks of a long session, then the desk (its sync
    process killed outright); each time the next sync resumes, and the server ends with every
    sample once."""
    server_env = {**os.environ, "FINEMOTOR_DATA": str(tmp_path / "server-side")}
    desk_env = {**os.environ, "FINEMOTOR_DATA": str(tmp_path / "desk")}
    server = ServerProcess(db, _free_port(), server_env)
    server.start()
    try:
        code = _people(db, server_env)
        _cli("enrol", "--server", server.url, "--code", code, env=desk_env)
        desk_db = tmp_path / "desk" / "recordings.sqlite"
        n = record(desk_db, seconds=600.0, rate_hz=1000.0, block=100)  # 600,000 samples
        cred = load_credential(tmp_path / "desk" / "server.json")
        assert cred is not None
        monkeypatch.setattr(wire, "CHUNK_BYTES", 24 * 1024)
        monkeypatch.setattr("finemotor.sync.uploader.CHUNK_BYTES", 24 * 1024)

        def acked() -> int:
            with Recording(desk_db) as rec:
                rows = rec.query("SELECT block_row FROM uploads WHERE session_id = ?", (n,))
            return int(rows[0][0]) if rows else 0

        async def upload_until_killed() -> None:
            task = asyncio.create_task(Uploader(cred, desk_db, deadline_s=2.0).sync())
            while acked() < 1000:
                await asyncio.sleep(0.02)
            server.kill()
            with pytest.raises(Exception, match="cannot be reached"):
                await task

        run(upload_until_killed(), seconds=120)
        first = acked()
        assert 1000 <= first < 6000 and upload_states(desk_db)[n].state == "uploading"
        server.start()
        sync = subprocess.Popen(
            [*FM, "sync"], env=desk_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + 60
        while acked() < first + 500 and time.monotonic() < deadline:
            time.sleep(0.02)
        sync.kill()  # the desk dies mid-upload
        said, _ = sync.communicate(timeout=30)
        second = acked()
        assert first < second < 6000, said
        done = subprocess.run(
            [*FM, "sync", "--json"],
            check=False,
            env=desk_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)[0]["state"] == "complete"
        sessions, _ = run(_therapist_view(server.url))
        assert sessions[0]["devices"][0]["samples"] == 600_000
    finally:
        server.stop()
