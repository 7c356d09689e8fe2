"""The server's tables (SQLAlchemy Core): one schema for SQLite and PostgreSQL.

What is here is the *current* schema; the migrations in ``server/migrations/versions`` build it
step by step, and a test checks that migrating an empty database gives exactly these tables.

Vocabulary:
    user: a person who signs in (a therapist or an admin), known by e-mail.
    school: where desks and students are. student: a pseudonymous id, never a name.
    caseload: which students each therapist follows. desk: an enrolled school computer.
    session: one recorded session of one student at one desk, with its devices, sample
    blocks as uploaded (``blocks``, while the upload runs) or compacted (``segments``, once
    complete), events (marks, link drops...) and metric snapshots.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ROLES = ("therapist", "admin")
"""Who signs in: a therapist sees her caseload; an admin runs schools, desks and accounts."""

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("password_changed_at", Float, nullable=False),
    Column("must_change_password", Boolean, nullable=False, default=False),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_digest", String(64), nullable=False, unique=True),
    Column("csrf_token", String(64), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

schools = Table(
    "schools",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(120), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

students = Table(
    "students",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("school_id", Integer, ForeignKey("schools.id"), nullable=False),
    Column("created_at", Float, nullable=False),
)

caseloads = Table(
    "caseloads",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("student_id", Integer, ForeignKey("students.id", ondelete="CASCADE"), primary_key=True),
    Column("added_at", Float, nullable=False),
)

desks = Table(
    "desks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("school_id", Integer, ForeignKey("schools.id"), nullable=False),
    Column("name", String(120), nullable=False),
    Column("credential_digest", String(64), nullable=False, unique=True),
    Column("enrolled_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
)

enrol_codes = Table(
    "enrol_codes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code_digest", String(64), nullable=False, unique=True),
    Column("school_id", Integer, ForeignKey("schools.id"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float, nullable=True),
    Column("desk_id", Integer, ForeignKey("desks.id"), nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("desk_id", Integer, ForeignKey("desks.id"), nullable=False),
    Column("desk_session", BigInteger, nullable=False),
    Column("student_id", Integer, ForeignKey("students.id", ondelete="CASCADE"), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
    Column("note", Text, nullable=False, default=""),
    Column("state", String(16), nullable=False),
    Column("received_at", Float, nullable=False),
    Column("completed_at", Float, nullable=True),
    Column("therapist_note", Text, nullable=False, default=""),
    UniqueConstraint("desk_id", "desk_session", name="uq_sessions_desk_session"),
)
Index("ix_sessions_student", sessions.c.student_id, sessions.c.started_at)

session_devices = Table(
    "session_devices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("session_id", Integer, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("channels", Text, nullable=False),
    Column("serial", String(64), nullable=False, default=""),
    Column("firmware", String(64), nullable=False, default=""),
    Column("model", String(64), nullable=False, default=""),
    Column("rate_hz", Float, nullable=True),
    Column("calibration_json", Text, nullable=True),
    Column("samples", BigInteger, nullable=False, default=0),
    Column("blocks", Integer, nullable=False, default=0),
    UniqueConstraint("session_id", "name", name="uq_session_devices_name"),
)

blocks = Table(
    "blocks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "device_id", Integer, ForeignKey("session_devices.id", ondelete="CASCADE"), nullable=False
    ),
    Column("seq0", BigInteger, nullable=False),
    Column("n", Integer, nullable=False),
    Column("t0", Float, nullable=False),
    Column("t1", Float, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("digest", String(64), nullable=False),
    UniqueConstraint("device_id", "seq0", name="uq_blocks_device_seq0"),
)

segments = Table(
    "segments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "device_id", Integer, ForeignKey("session_devices.id", ondelete="CASCADE"), nullable=False
    ),
    Column("seq0", BigInteger, nullable=False),
    Column("n", Integer, nullable=False),
    Column("t0", Float, nullable=False),
    Column("t1", Float, nullable=False),
    Column("blocks", LargeBinary, nullable=False),
    Column("data", LargeBinary, nullable=False),
    UniqueConstraint("device_id", "seq0", name="uq_segments_device_seq0"),
)
"""A complete session's blocks, compacted (:mod:`finemotor.server.codec`): many blocks per
row, their index (first sequence number, count, digest each) in ``blocks``."""

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("session_id", Integer, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("desk_row", BigInteger, nullable=False),
    Column("device", String(32), nullable=True),
    Column("host_t", Float, nullable=False),
    Column("device_t", Float, nullable=True),
    Column("kind", String(32), nullable=False),
    Column("data", Text, nullable=False),
    UniqueConstraint("session_id", "desk_row", name="uq_events_desk_row"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("session_id", Integer, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("desk_row", BigInteger, nullable=False),
    Column("device", String(32), nullable=False),
    Column("host_t", Float, nullable=False),
    Column("data", Text, nullable=False),
    UniqueConstraint("session_id", "desk_row", name="uq_metrics_desk_row"),
)

goals = Table(
    "goals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("student_id", Integer, ForeignKey("students.id", ondelete="CASCADE"), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("target", Float, nullable=False),
    Column("unit", String(16), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("by_date", String(10), nullable=True),
    Column("note", Text, nullable=False, default=""),
    Column("set_at", Float, nullable=False),
    Column("set_by", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("replaced_at", Float, nullable=True),
)

task_plans = Table(
    "task_plans",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("student_id", Integer, ForeignKey("students.id", ondelete="CASCADE"), nullable=False),
    Column("tasks", Text, nullable=False),
    Column("set_at", Float, nullable=False),
    Column("set_by", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("replaced_at", Float, nullable=True),
)
"""The tasks a therapist planned for a student's sessions (a JSON list of texts); a plan
replaced stays as history."""
Index("ix_task_plans_student", task_plans.c.student_id, task_plans.c.set_at)

session_values = Table(
    "session_values",
    metadata,
    Column("session_id", Integer, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
    Column("made_by", String(64), nullable=False),
    Column("data", Text, nullable=False),
    Column("made_at", Float, nullable=False),
)
"""A complete session's goal metric values (JSON ``{"values", "why", "pen_source"}``), worked
out from its samples once, when it completes; ``made_by`` names the analysis that made them
(another version works them out again)."""

settings = Table(
    "settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("set_at", Float, nullable=False),
    Column("set_by", String(300), nullable=False),
)
"""The server's settings an admin changes while it runs (JSON values), shared by every
server process: ``retention_days``."""

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Float, nullable=False),
    Column("actor", String(300), nullable=False),
    Column("action", String(32), nullable=False),
    Column("student", String(64), nullable=True),
    Column("detail", Text, nullable=False, default=""),
    Column("reason", Text, nullable=False, default=""),
)
Index("ix_audit_student", audit.c.student, audit.c.at)
