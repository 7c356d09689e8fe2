"""The recording database's tables and their version: what a finemotor recording is.

A file is a finemotor recording when it has the ``schema_version`` table; a version above
:data:`SCHEMA_VERSION` was written by a newer finemotor.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 1
"""The version of the tables this finemotor writes and reads."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    student TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS devices (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    channels TEXT NOT NULL,
    serial TEXT NOT NULL DEFAULT '',
    firmware TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    rate_hz REAL,
    calibration BLOB,
    calibration_json TEXT,
    UNIQUE (session_id, name)
);
CREATE TABLE IF NOT EXISTS blocks (
    id INTEGER PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices(id),
    seq0 INTEGER NOT NULL,
    n INTEGER NOT NULL,
    t BLOB NOT NULL,
    counts BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS blocks_by_device ON blocks (device_id, seq0);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    device TEXT,
    host_t REAL NOT NULL,
    device_t REAL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    device TEXT NOT NULL,
    host_t REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    session_id INTEGER PRIMARY KEY REFERENCES sessions(id),
    state TEXT NOT NULL,
    block_row INTEGER NOT NULL DEFAULT 0,
    event_row INTEGER NOT NULL DEFAULT 0,
    metric_row INTEGER NOT NULL DEFAULT 0,
    server_id INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_try REAL,
    confirmed_at REAL,
    problem TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS goals (
    id INTEGER PRIMARY KEY,
    student TEXT NOT NULL,
    metric TEXT NOT NULL,
    target REAL NOT NULL,
    unit TEXT NOT NULL,
    direction TEXT NOT NULL,
    set_at REAL NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
"""
"""Every table, created where missing."""


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables that are missing (inside the caller's transaction)."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    if conn.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 0:
        conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
