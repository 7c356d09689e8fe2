"""A private PostgreSQL for the tests: Debian's binaries, ``initdb`` into a temporary folder.

The server listens only on a Unix socket in that folder (no TCP port, nothing shared with the
machine), trusts local connections, and is stopped (``pg_ctl stop -m immediate``) and removed
at the end. PostgreSQL refuses to run as root, so under root it runs as the ``postgres``
system user that Debian's package creates (``runuser``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def pg_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server binaries (the newest), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


@dataclass
class PrivatePostgres:
    """A running private server; :meth:`url` names a database in it."""

    folder: Path
    bin: Path
    user: str | None

    @property
    def socket_dir(self) -> Path:
        return self.folder / "sock"

    def url(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL of ``database`` over the private socket."""
        return f"postgresql://finemotor@/{database}?host={self.socket_dir}"

    def _run(self, *cmd: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        argv = list(cmd)
        if self.user is not None:
            argv = ["runuser", "-u", self.user, "--", *argv]
        return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=timeout)

    def start(self) -> None:
        data = self.folder / "data"
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(data),
            "-U",
            "finemotor",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        self.start_again()

    def start_again(self) -> None:
        """Start the server on its existing data (after :meth:`start` and a stop)."""
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.folder / "data"),
            "-l",
            str(self.folder / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            "start",
        )

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the server (fast: connections are cut), stay down ``down_s``, start it again."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "stop")
        time.sleep(down_s)
        self.start_again()

    def create_database(self, name: str) -> str:
        """Create an empty database; its URL."""
        self._run(str(self.bin / "createdb"), "-h", str(self.socket_dir), "-U", "finemotor", name)
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop"
            )
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_private_postgres() -> PrivatePostgres:
    """Start a private PostgreSQL (raises FileNotFoundError if Debian's is not installed)."""
    binaries = pg_bin()
    if binaries is None:
        raise FileNotFoundError("PostgreSQL's server binaries (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="fm-pg-"))
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        pw = pwd.getpwnam(user)
        os.chown(folder, pw.pw_uid, pw.pw_gid)
    (folder / "sock").mkdir()
    if user is not None:
        os.chown(folder / "sock", pw.pw_uid, pw.pw_gid)
    pg = PrivatePostgres(folder, binaries, user)
    try:
        pg.start()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return pg
