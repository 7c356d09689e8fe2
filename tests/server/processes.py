"""Server processes as people run them, for the tests that kill and restart them: the
``finemotor`` commands, ``finemotor server run`` in its own process, and the admin's setup of
people, schools, a caseload and an enrolment code."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from server_helpers import PASSWORD, Db

FM = [sys.executable, "-m", "finemotor"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str, env: dict[str, str], stdin: str | None = None) -> str:
    done = subprocess.run(
        [*FM, *args], check=False, input=stdin, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stdout


class ServerProcess:
    """``finemotor server run`` in its own process, which a test can kill outright."""

    def __init__(self, db: Db, port: int, env: dict[str, str], extra: tuple[str, ...] = ()) -> None:
        self.args = [*FM, "server", "run", *db.args, "--port", str(port), *extra]
        self.env = env
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[str] | None = None
        self.bus_id = ""
        """Its id on the Redis bus (with --redis)."""

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.args, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in self.proc.stdout:
            if "(this process: " in line:
                self.bus_id = line.rsplit("(this process: ", 1)[1].split(")")[0]
            if "server listening on" in line:
                threading.Thread(target=self._drain, daemon=True).start()
                return
            assert time.monotonic() < deadline, "the server did not start"
        raise AssertionError(f"the server stopped: {self.proc.wait()}")

    def _drain(self) -> None:
        """Keep reading its output, so a full pipe never stalls it."""
        proc = self.proc
        if proc is not None and proc.stdout is not None:
            for _ in proc.stdout:
                pass

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def _people(db: Db, env: dict[str, str]) -> str:
    """The admin's commands; the enrolment code."""
    for email, role in (
        ("admin@district.example", "admin"),
        ("ot@district.example", "therapist"),
        ("ot2@district.example", "therapist"),
    ):
        out = _cli(
            "server", "user", "add", email, "--role", role, *db.args, env=env, stdin=PASSWORD + "\n"
        )
        assert f"added {role} {email}" in out
    _cli("server", "school", "add", "Oak Primary", *db.args, env=env)
    _cli("server", "school", "add", "Elm Middle", *db.args, env=env)
    _cli(
        "server",
        "caseload",
        "add",
        "ot@district.example",
        "S-1",
        "--school",
        "Oak Primary",
        *db.args,
        env=env,
    )
    _cli(
        "server",
        "caseload",
        "add",
        "ot2@district.example",
        "S-2",
        "--school",
        "Elm Middle",
        *db.args,
        env=env,
    )
    code = _cli("server", "enrol-code", "--school", "Oak Primary", *db.args, env=env).strip()
    assert len(code) == 14 and code.count("-") == 2
    return code


def sync_json(env: dict[str, str], timeout: float = 180.0) -> dict[str, Any]:
    """``finemotor sync --json`` on the desk of ``env``: its one session's upload state."""
    synced = subprocess.run(
        [*FM, "sync", "--json"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert synced.returncode == 0, synced.stderr
    (state,) = json.loads(synced.stdout)
    return dict(state)


def start_session(env: dict[str, str], seconds: float) -> tuple[subprocess.Popen[str], list[str]]:
    """``finemotor session --sim`` on the desk of ``env`` for ``seconds``, once it runs: the
    process and what it printed up to "Press Ctrl-C"."""
    session = subprocess.Popen(
        [*FM, "session", "--student", "S-1", "--sim", "--seconds", str(int(seconds))],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert session.stdout is not None
    seen = []
    for line in session.stdout:
        seen.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    return session, seen
