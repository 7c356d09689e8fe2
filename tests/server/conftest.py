"""The server's tests run against both databases: SQLite in a temporary folder, and a private
PostgreSQL (Debian's, started once per test worker; one fresh database per test)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg import PrivatePostgres, start_private_postgres
from server_helpers import Db

from finemotor.server.database import database_url

_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PrivatePostgres]:
    try:
        pg = start_private_postgres()
    except FileNotFoundError as exc:
        pytest.skip(f"needs {exc}")
    yield pg
    pg.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Db:
    if request.param == "sqlite":
        folder = tmp_path / "server-data"
        return Db("sqlite", ("--data", str(folder)), database_url(folder, None))
    pg: PrivatePostgres = request.getfixturevalue("postgres")
    raw = pg.create_database(f"t{next(_names)}")
    return Db("postgresql", ("--database", raw), database_url(None, raw))
