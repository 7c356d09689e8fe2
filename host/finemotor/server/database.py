"""Opening the server's database: SQLite in a data folder, or PostgreSQL; migrations at start.

``--data DIR`` gives ``DIR/server.sqlite`` (WAL, foreign keys on): one machine, nothing else to
run. ``--database postgresql://user:password@host/db`` (or ``?host=/socket/dir``) gives
PostgreSQL through asyncpg. Either way the schema is brought to the newest version by the
migrations in ``server/migrations`` before anything else runs, and a database written by a
newer finemotor is refused rather than guessed at.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from finemotor.errors import StoreError

DB_FILE = "server.sqlite"
"""The database's file name inside ``--data DIR``."""

CONNECT_TIMEOUT_S = 10.0
"""How long opening a PostgreSQL connection may take before the database counts as down."""


def database_url(data: str | Path | None, database: str | None) -> URL:
    """The SQLAlchemy URL for ``--data DIR`` or ``--database URL`` (exactly one of them).

    Raises:
        StoreError: neither or both given, or a URL that is not SQLite or PostgreSQL.
    """
    if (data is None) == (database is None):
        raise StoreError("?", "failed", "give either --data DIR or --database URL")
    if data is not None:
        folder = Path(data).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                str(folder), "failed", f"cannot create the folder ({exc.strerror})"
            ) from exc
        return URL.create("sqlite+aiosqlite", database=str(folder / DB_FILE))
    assert database is not None
    try:
        url = make_url(database)
    except ArgumentError as exc:
        raise StoreError(
            "?", "failed", "the --database URL cannot be read: write postgresql://USER@HOST/DB"
        ) from exc
    if url.get_backend_name() == "postgresql":
        return url.set(drivername="postgresql+asyncpg")
    if url.get_backend_name() == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    raise StoreError(
        describe(url), "failed", "only postgresql:// and sqlite:// databases are supported"
    )


def describe(url: URL) -> str:
    """The database for a person and a log line: no password, no query string."""
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    host = url.host or str(url.query.get("host", "local socket"))
    return f"postgresql://{host}/{url.database or ''}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: URL) -> AsyncEngine:
    """An async engine for ``url``, with SQLite's pragmas or PostgreSQL's connect timeout."""
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args={"timeout": CONNECT_TIMEOUT_S},
    )


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "finemotor.server:migrations")
    return cfg


def head_revision() -> str:
    """The newest schema version this finemotor knows."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def _upgrade(conn: Connection) -> str | None:
    current = MigrationContext.configure(conn).get_current_revision()
    script = ScriptDirectory.from_config(_alembic_config())
    if current is not None:
        try:
            known = script.get_revision(current)
        except CommandError:
            known = None
        if known is None:
            return current
    cfg = _alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")
    return None


def unreachable(url: URL, exc: BaseException) -> StoreError:
    """The error for a database that cannot be reached, saying what to check."""
    if url.get_backend_name() == "sqlite":
        return StoreError(
            describe(url),
            "unreachable",
            f"cannot be opened ({_first_line(exc)}): check the --data folder and the free space",
        )
    return StoreError(
        describe(url),
        "unreachable",
        f"cannot be reached ({_first_line(exc)}): check that PostgreSQL is running and that "
        "the --database URL names the right host, database, user and password",
    )


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return (text[0] if text else type(orig).__name__)[:200]


async def open_engine(url: URL) -> AsyncEngine:
    """Connect and migrate the schema to the newest version; return the engine.

    Raises:
        StoreError: unreachable, or written by a newer finemotor (``"too_new"``).
    """
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            newer = await conn.run_sync(_upgrade)
    except (TimeoutError, OSError, OperationalError, DBAPIError) as exc:
        await engine.dispose()
        raise unreachable(url, exc) from exc
    if newer is not None:
        await engine.dispose()
        raise StoreError(
            describe(url),
            "too_new",
            f"its schema version {newer!r} is newer than this finemotor knows "
            f"({head_revision()!r}): upgrade finemotor on this server",
        )
    if url.get_backend_name() == "sqlite" and url.database:
        _private(Path(url.database))
    return engine


def _private(path: Path) -> None:
    """Student data: the SQLite files are readable by their owner only."""
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if p.exists():
            os.chmod(p, 0o600)
