"""The server's tests run against both databases: SQLite in a temporary folder, and a private
PostgreSQL (Debian's, started once per test worker; one fresh database per test); the tests of
several processes sharing live sessions use a private Redis (Debian's, once per worker)."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.private_pg import PrivatePostgres, start_private_postgres
from bench.private_redis import PrivateRedis, start_private_redis
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


@pytest.fixture(scope="session")
def redis_server() -> Iterator[PrivateRedis]:
    """A private Redis for the whole run (tests empty it with :func:`fresh_redis`)."""
    try:
        r = start_private_redis()
    except FileNotFoundError as exc:
        pytest.skip(f"needs {exc}")
    yield r
    r.stop()


@pytest.fixture
def fresh_redis(redis_server: PrivateRedis) -> PrivateRedis:
    """The private Redis, emptied (restarted if a test killed it)."""
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()
    with socket.create_connection(("127.0.0.1", redis_server.port), timeout=5.0) as s:
        s.sendall(b"FLUSHALL\r\n")
        assert s.recv(16).startswith(b"+OK")
    return redis_server
