"""The server's store of people and places: accounts, web sessions, schools, caseloads, desks,
enrolment codes, goals and the audit log. Recorded sessions are in :mod:`finemotor.server.records`.

Every method is one transaction. Database failures become :class:`~finemotor.errors.StoreError`
(the database is down: try again) and rule violations :class:`~finemotor.errors.RefusedError`
or :class:`~finemotor.errors.NotFoundError`, each with a sentence saying what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from finemotor.errors import NotFoundError, RefusedError
from finemotor.marks import clean_mark_text, task_plan_problem
from finemotor.report.goals import DIRECTIONS, GOAL_METRICS
from finemotor.server import schema as s
from finemotor.server.database import describe, open_engine, unreachable
from finemotor.server.passwords import (
    digest,
    hash_password,
    new_code,
    new_token,
    normal_code,
    verify_password,
)
from finemotor.student import student_id_problem

ENROL_CODE_TTL_S = 24 * 3600.0
"""An enrolment code works once, within 24 hours."""
WEB_SESSION_TTL_S = 12 * 3600.0
"""A sign-in lasts a school day, then the therapist signs in again."""

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,60}$")
_NAME_MAX = 120


@dataclass(frozen=True)
class User:
    """Someone who signs in (``must_change``: with a one-time password an admin gave; she
    chooses her own before anything else)."""

    id: int
    email: str
    role: str
    must_change: bool = False


@dataclass(frozen=True)
class Account:
    """An account as the admin page lists it."""

    email: str
    role: str
    created_at: float
    must_change: bool
    students: int
    """Students on her caseload."""
    schools: tuple[str, ...]
    """The schools of those students."""


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser: who, its CSRF token, and when it ends (unix s)."""

    user: User
    csrf: str
    expires_at: float


@dataclass(frozen=True)
class Desk:
    """An enrolled school computer."""

    id: int
    name: str
    school_id: int
    school: str
    enrolled_at: float
    revoked_at: float | None


@dataclass(frozen=True)
class Student:
    """A pseudonymous student at a school."""

    id: int
    code: str
    school: str


@dataclass(frozen=True)
class Enrolment:
    """What a desk receives when its code is accepted (the credential is shown only here)."""

    desk_id: int
    school: str
    credential: str


@dataclass(frozen=True)
class AuditEntry:
    """One line of the access log."""

    at: float
    actor: str
    action: str
    student: str | None
    detail: str
    reason: str


@dataclass(frozen=True)
class Retention:
    """How long sessions are kept, as an admin set it.

    Attributes:
        days: sessions older than this many days are deleted (None: all are kept).
        set_at: when (unix s); set_by: who (an admin's e-mail, or ``command line``).
    """

    days: int | None
    set_at: float
    set_by: str


RETENTION_DAYS = (30, 36500)
"""The shortest and longest retention an admin may set, in days (a slip of the keyboard must
not delete a school year's sessions)."""


def _clean_name(what: str, name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > _NAME_MAX or not name.isprintable():
        raise RefusedError(400, f"bad_{what}", f"a {what} name needs 1 to {_NAME_MAX} characters")
    return name


def _check_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise RefusedError(400, "bad_email", f"{email!r} is not an e-mail address")
    return email


def _check_student(code: str) -> str:
    problem = student_id_problem(code)
    if problem is not None:
        raise RefusedError(400, "bad_student", f"{problem} (for example 'S-0142')")
    return code


def _goal(r: Any) -> dict[str, Any]:
    """A goal row as the API gives it."""
    return {
        "id": r.id,
        "metric": r.metric,
        "target": r.target,
        "unit": r.unit,
        "direction": r.direction,
        "by": r.by_date,
        "note": r.note,
        "set_at": r.set_at,
        "set_by": r.email,
        "replaced_at": r.replaced_at,
    }


class Store:
    """People and places on the server (see the module docstring).

    Args:
        engine: an engine from :func:`finemotor.server.database.open_engine`.
        url: its URL, for error messages (never printed with a password).
    """

    def __init__(self, engine: AsyncEngine, url: URL) -> None:
        self.engine = engine
        self.url = url
        self.where = describe(url)

    @classmethod
    async def open(cls, url: URL) -> Store:
        """Connect, migrate and return the store.

        Raises:
            StoreError: the database cannot be reached or is newer than this finemotor.
        """
        return cls(await open_engine(url), url)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def tx(self) -> AsyncIterator[AsyncConnection]:
        """One transaction; database failures become :class:`~finemotor.errors.StoreError`."""
        try:
            async with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except (TimeoutError, OSError, OperationalError, DBAPIError) as exc:
            raise unreachable(self.url, exc) from exc

    # accounts ---------------------------------------------------------------------------

    async def add_user(
        self, email: str, role: str, password: str, must_change: bool = False
    ) -> User:
        """Create an account (``must_change``: the password is a one-time one).

        Raises:
            RefusedError: bad e-mail, role or password, or taken.
        """
        email = _check_email(email)
        if role not in s.ROLES:
            raise RefusedError(400, "bad_role", f"a role is one of {', '.join(s.ROLES)}")
        hashed = await asyncio.to_thread(hash_password, password)
        now = time.time()
        try:
            async with self.tx() as c:
                res = await c.execute(
                    insert(s.users).values(
                        email=email,
                        role=role,
                        password_hash=hashed,
                        created_at=now,
                        password_changed_at=now,
                        must_change_password=must_change,
                    )
                )
        except IntegrityError:
            raise RefusedError(409, "exists", f"there is already an account for {email}") from None
        assert res.inserted_primary_key is not None
        return User(int(res.inserted_primary_key[0]), email, role, must_change)

    async def accounts(self) -> list[Account]:
        """Every account, with the size and schools of each caseload."""
        u, cl, st, sc = s.users, s.caseloads, s.students, s.schools
        async with self.tx() as c:
            users = (await c.execute(select(u).order_by(u.c.role, u.c.email))).all()
            rows = (
                await c.execute(
                    select(cl.c.user_id, sc.c.name)
                    .join(st, st.c.id == cl.c.student_id)
                    .join(sc, sc.c.id == st.c.school_id)
                )
            ).all()
        per_user: dict[int, list[str]] = {}
        for r in rows:
            per_user.setdefault(r.user_id, []).append(r.name)
        return [
            Account(
                r.email,
                r.role,
                r.created_at,
                bool(r.must_change_password),
                len(per_user.get(r.id, [])),
                tuple(sorted(set(per_user.get(r.id, [])))),
            )
            for r in users
        ]

    async def user(self, email: str) -> User:
        """The account of ``email``. Raises NotFoundError."""
        email = email.strip().lower()
        async with self.tx() as c:
            row = (
                await c.execute(
                    select(s.users.c.id, s.users.c.role).where(s.users.c.email == email)
                )
            ).first()
        if row is None:
            raise NotFoundError("account", email, "`finemotor server user add` creates one")
        return User(row.id, email, row.role)

    async def set_password(self, email: str, password: str, must_change: bool = False) -> None:
        """Set a new password (``must_change``: a one-time one, an admin's reset); every
        sign-in of that account ends."""
        user = await self.user(email)
        hashed = await asyncio.to_thread(hash_password, password)
        async with self.tx() as c:
            await c.execute(
                update(s.users)
                .where(s.users.c.id == user.id)
                .values(
                    password_hash=hashed,
                    password_changed_at=time.time(),
                    must_change_password=must_change,
                )
            )
            await c.execute(delete(s.web_sessions).where(s.web_sessions.c.user_id == user.id))

    async def check_password(self, email: str, password: str) -> User | None:
        """The account if ``password`` is right, else None (unknown e-mail takes as long)."""
        email = email.strip().lower()[:254]
        async with self.tx() as c:
            row = (
                await c.execute(
                    select(
                        s.users.c.id,
                        s.users.c.role,
                        s.users.c.password_hash,
                        s.users.c.must_change_password,
                    ).where(s.users.c.email == email)
                )
            ).first()
        ok = await asyncio.to_thread(verify_password, row.password_hash if row else None, password)
        if not ok or row is None:
            return None
        return User(row.id, email, row.role, bool(row.must_change_password))

    async def change_password(self, user: User, old: str, new: str) -> None:
        """The signed-in person changes her password; her other sign-ins end.

        Raises:
            RefusedError: the old password is wrong (403) or the new one unusable (400).
        """
        if await self.check_password(user.email, old) is None:
            raise RefusedError(403, "wrong_password", "the current password is not right")
        if new == old:
            raise RefusedError(400, "bad_password", "choose a new password, not the current one")
        await self.set_password(user.email, new)

    async def start_web_session(
        self, user: User, ttl_s: float = WEB_SESSION_TTL_S
    ) -> tuple[str, WebSession]:
        """A new sign-in: its cookie token (shown only here) and the session."""
        token, csrf = new_token(), new_token()
        now = time.time()
        async with self.tx() as c:
            await c.execute(delete(s.web_sessions).where(s.web_sessions.c.expires_at < now))
            await c.execute(
                insert(s.web_sessions).values(
                    token_digest=digest(token),
                    csrf_token=csrf,
                    user_id=user.id,
                    created_at=now,
                    expires_at=now + ttl_s,
                )
            )
        return token, WebSession(user, csrf, now + ttl_s)

    async def web_session(self, token: str) -> WebSession | None:
        """The live sign-in of a cookie token, or None (unknown or expired)."""
        if not token or len(token) > 100:
            return None
        ws, u = s.web_sessions, s.users
        async with self.tx() as c:
            row = (
                await c.execute(
                    select(
                        u.c.id,
                        u.c.email,
                        u.c.role,
                        u.c.must_change_password,
                        ws.c.csrf_token,
                        ws.c.expires_at,
                    )
                    .join(u, u.c.id == ws.c.user_id)
                    .where(ws.c.token_digest == digest(token))
                )
            ).first()
        if row is None or row.expires_at < time.time():
            return None
        user = User(row.id, row.email, row.role, bool(row.must_change_password))
        return WebSession(user, row.csrf_token, row.expires_at)

    async def end_web_session(self, token: str) -> None:
        """Sign out."""
        async with self.tx() as c:
            await c.execute(
                delete(s.web_sessions).where(s.web_sessions.c.token_digest == digest(token))
            )

    # schools, students, caseloads -------------------------------------------------------

    async def add_school(self, name: str) -> int:
        """Create a school; its id. Raises RefusedError (bad or taken name)."""
        name = _clean_name("school", name)
        try:
            async with self.tx() as c:
                res = await c.execute(insert(s.schools).values(name=name, created_at=time.time()))
        except IntegrityError:
            raise RefusedError(409, "exists", f"there is already a school {name!r}") from None
        assert res.inserted_primary_key is not None
        return int(res.inserted_primary_key[0])

    async def schools(self) -> list[str]:
        """Every school's name, sorted."""
        async with self.tx() as c:
            rows = (await c.execute(select(s.schools.c.name).order_by(s.schools.c.name))).all()
        return [r.name for r in rows]

    async def _school_id(self, c: AsyncConnection, name: str) -> int:
        name = " ".join(name.split())
        sid = (await c.execute(select(s.schools.c.id).where(s.schools.c.name == name))).scalar()
        if sid is None:
            raise NotFoundError("school", name, "`finemotor server school add` creates it")
        return int(sid)

    async def add_to_caseload(self, email: str, student: str, school: str) -> Student:
        """Put ``student`` (at ``school``) on the therapist ``email``'s caseload.

        The student is created at that school the first time. Raises RefusedError: not a
        therapist, or the student is already at another school.
        """
        _check_student(student)
        user = await self.user(email)
        if user.role != "therapist":
            raise RefusedError(400, "not_therapist", f"{user.email} is not a therapist")
        now = time.time()
        try:
            async with self.tx() as c:
                school_id = await self._school_id(c, school)
                row = (
                    await c.execute(
                        select(s.students.c.id, s.students.c.school_id).where(
                            s.students.c.code == student
                        )
                    )
                ).first()
                if row is None:
                    res = await c.execute(
                        insert(s.students).values(code=student, school_id=school_id, created_at=now)
                    )
                    assert res.inserted_primary_key is not None
                    student_id = int(res.inserted_primary_key[0])
                elif row.school_id != school_id:
                    raise RefusedError(
                        409,
                        "other_school",
                        f"student {student} is at another school: student ids are unique "
                        "across the server, so give this student another id",
                    )
                else:
                    student_id = row.id
                await c.execute(
                    insert(s.caseloads).values(user_id=user.id, student_id=student_id, added_at=now)
                )
        except IntegrityError:
            raise RefusedError(
                409, "exists", f"{student} is already on {user.email}'s caseload"
            ) from None
        return Student(student_id, student, " ".join(school.split()))

    async def remove_from_caseload(self, email: str, student: str) -> None:
        """Take ``student`` off the therapist's caseload (the student's data stays)."""
        user = await self.user(email)
        async with self.tx() as c:
            res = await c.execute(
                delete(s.caseloads).where(
                    and_(
                        s.caseloads.c.user_id == user.id,
                        s.caseloads.c.student_id
                        == select(s.students.c.id)
                        .where(s.students.c.code == student)
                        .scalar_subquery(),
                    )
                )
            )
        if res.rowcount == 0:
            raise NotFoundError("student", student, f"it is not on {user.email}'s caseload")

    async def caseload(self, user: User) -> list[Student]:
        """The therapist's students, by id."""
        st, sc, cl = s.students, s.schools, s.caseloads
        async with self.tx() as c:
            rows = (
                await c.execute(
                    select(st.c.id, st.c.code, sc.c.name)
                    .join(cl, cl.c.student_id == st.c.id)
                    .join(sc, sc.c.id == st.c.school_id)
                    .where(cl.c.user_id == user.id)
                    .order_by(st.c.code)
                )
            ).all()
        return [Student(r.id, r.code, r.name) for r in rows]

    async def student_for(self, user: User, code: str) -> Student:
        """``code`` if it is on ``user``'s caseload; NotFoundError otherwise, whether or not
        the student exists (a therapist learns nothing about other caseloads)."""
        for st in await self.caseload(user):
            if st.code == code:
                return st
        raise NotFoundError("student", code[:40], where="on your caseload")

    async def student(self, code: str) -> Student:
        """Any student by id (for admins' commands). Raises NotFoundError."""
        st, sc = s.students, s.schools
        async with self.tx() as c:
            row = (
                await c.execute(
                    select(st.c.id, st.c.code, sc.c.name)
                    .join(sc, sc.c.id == st.c.school_id)
                    .where(st.c.code == code)
                )
            ).first()
        if row is None:
            raise NotFoundError("student", code[:40])
        return Student(row.id, row.code, row.name)

    async def watchers(self, student: str) -> list[int]:
        """The ids of the therapists whose caseload holds ``student``."""
        async with self.tx() as c:
            rows = (
                await c.execute(
                    select(s.caseloads.c.user_id)
                    .join(s.students, s.students.c.id == s.caseloads.c.student_id)
                    .where(s.students.c.code == student)
                )
            ).all()
        return [r.user_id for r in rows]

    # desks ------------------------------------------------------------------------------

    async def new_enrol_code(
        self, school: str, ttl_s: float = ENROL_CODE_TTL_S
    ) -> tuple[str, float]:
        """A single-use enrolment code for a desk at ``school``, and when it expires."""
        code = new_code()
        now = time.time()
        async with self.tx() as c:
            school_id = await self._school_id(c, school)
            await c.execute(
                insert(s.enrol_codes).values(
                    code_digest=digest(code),
                    school_id=school_id,
                    created_at=now,
                    expires_at=now + ttl_s,
                )
            )
        return code, now + ttl_s

    async def enrol(self, code: str, desk_name: str) -> Enrolment:
        """Exchange an enrolment code for a desk credential (the code is then spent).

        Raises:
            RefusedError: unknown, used or expired code (403, one message for all three, so a
                guesser learns nothing), or a bad desk name.
        """
        name = _clean_name("desk", desk_name)
        credential = new_token()
        now = time.time()
        ec = s.enrol_codes
        refused = RefusedError(
            403,
            "bad_code",
            "this enrolment code is not valid: it may be mistyped, used already or older than "
            "24 hours; ask the server's admin for a new one",
        )
        async with self.tx() as c:
            row = (
                await c.execute(
                    select(ec.c.id, ec.c.school_id, ec.c.expires_at, ec.c.used_at).where(
                        ec.c.code_digest == digest(normal_code(code))
                    )
                )
            ).first()
            if row is None or row.used_at is not None or row.expires_at < now:
                raise refused
            res = await c.execute(
                insert(s.desks).values(
                    school_id=row.school_id,
                    name=name,
                    credential_digest=digest(credential),
                    enrolled_at=now,
                )
            )
            assert res.inserted_primary_key is not None
            desk_id = int(res.inserted_primary_key[0])
            spent = await c.execute(
                update(ec)
                .where(and_(ec.c.id == row.id, ec.c.used_at.is_(None)))
                .values(used_at=now, desk_id=desk_id)
            )
            if spent.rowcount != 1:  # a concurrent enrolment spent it first
                raise refused
            school = (
                await c.execute(select(s.schools.c.name).where(s.schools.c.id == row.school_id))
            ).scalar_one()
        return Enrolment(desk_id, school, credential)

    async def desk(self, credential: str | None, revoked: bool = False) -> Desk | None:
        """The enrolled desk holding ``credential`` (revoked ones only with ``revoked``),
        or None."""
        if not credential or len(credential) > 100:
            return None
        desks = await self._desks(s.desks.c.credential_digest == digest(credential))
        if not desks or (desks[0].revoked_at is not None and not revoked):
            return None
        return desks[0]

    async def desk_students(self, desk: Desk) -> list[str]:
        """The students at the desk's school who are on some therapist's caseload."""
        st = s.students
        async with self.tx() as c:
            rows = (
                await c.execute(
                    select(st.c.code)
                    .distinct()
                    .join(s.caseloads, s.caseloads.c.student_id == st.c.id)
                    .where(st.c.school_id == desk.school_id)
                    .order_by(st.c.code)
                )
            ).all()
        return [r.code for r in rows]

    async def _desks(self, where: Any) -> list[Desk]:
        d, sc = s.desks, s.schools
        async with self.tx() as c:
            rows = (
                await c.execute(
                    select(
                        d.c.id,
                        d.c.name,
                        d.c.school_id,
                        sc.c.name.label("school"),
                        d.c.enrolled_at,
                        d.c.revoked_at,
                    )
                    .join(sc, sc.c.id == d.c.school_id)
                    .where(where)
                    .order_by(d.c.id)
                )
            ).all()
        return [
            Desk(r.id, r.name, r.school_id, r.school, r.enrolled_at, r.revoked_at) for r in rows
        ]

    async def desks(self) -> list[Desk]:
        """Every desk ever enrolled, revoked ones included."""
        return await self._desks(s.desks.c.id.is_not(None))

    async def revoke_desk(self, desk_id: int) -> Desk:
        """Cut a desk off: its credential stops working at once. Raises NotFoundError."""
        async with self.tx() as c:
            await c.execute(
                update(s.desks)
                .where(and_(s.desks.c.id == desk_id, s.desks.c.revoked_at.is_(None)))
                .values(revoked_at=time.time())
            )
        found = await self._desks(s.desks.c.id == desk_id)
        if not found:
            raise NotFoundError("desk", str(desk_id), "`finemotor server desk list` lists them")
        return found[0]

    async def revoked_among(self, desk_ids: set[int]) -> set[int]:
        """Which of ``desk_ids`` are revoked now (the relay asks for its live sessions)."""
        if not desk_ids:
            return set()
        async with self.tx() as c:
            rows = (
                await c.execute(
                    select(s.desks.c.id).where(
                        and_(s.desks.c.id.in_(desk_ids), s.desks.c.revoked_at.is_not(None))
                    )
                )
            ).all()
        return {r.id for r in rows}

    async def desk_may_serve(self, desk: Desk, student: str) -> bool:
        """True if ``student`` is at the desk's school and on some therapist's caseload."""
        st = s.students
        async with self.tx() as c:
            n = (
                await c.execute(
                    select(func.count())
                    .select_from(st.join(s.caseloads, s.caseloads.c.student_id == st.c.id))
                    .where(and_(st.c.code == student, st.c.school_id == desk.school_id))
                )
            ).scalar_one()
        return int(n) > 0

    # goals ------------------------------------------------------------------------------

    async def _set_by_therapists(
        self, table: Any, students: Sequence[Student], history: bool
    ) -> list[Any]:
        """``table``'s rows about ``students`` (goals, task plans) that are in force, or all of
        them with ``history``, oldest first, each with the e-mail of who set it: one query."""
        q = (
            select(table, s.users.c.email)
            .outerjoin(s.users, s.users.c.id == table.c.set_by)
            .where(table.c.student_id.in_([st.id for st in students]))
        )
        if not history:
            q = q.where(table.c.replaced_at.is_(None))
        async with self.tx() as c:
            return list((await c.execute(q.order_by(table.c.set_at, table.c.id))).all())

    async def goals(self, student: Student, history: bool = False) -> list[dict[str, Any]]:
        """The student's goals in force (or every goal ever set, with ``history``)."""
        return [_goal(r) for r in await self._set_by_therapists(s.goals, [student], history)]

    async def goals_of(self, students: Sequence[Student]) -> dict[int, list[dict[str, Any]]]:
        """The goals in force of each of ``students``, by student id (a caseload's in one
        query, not one per student)."""
        out: dict[int, list[dict[str, Any]]] = {st.id: [] for st in students}
        if students:
            for r in await self._set_by_therapists(s.goals, students, False):
                out[r.student_id].append(_goal(r))
        return out

    async def set_goal(
        self,
        user: User,
        student: Student,
        metric: str,
        target: float,
        direction: str | None = None,
        by_date: str | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        """Set (or replace) the goal on ``metric``; the one it replaces stays in the history.

        Raises:
            RefusedError: unknown metric or direction, a target that is not a finite number,
                a date that is not YYYY-MM-DD, a note over 500 characters.
        """
        m = GOAL_METRICS.get(metric)
        if m is None:
            raise RefusedError(400, "bad_goal", f"the metric is one of {', '.join(GOAL_METRICS)}")
        direction = direction or m.direction
        if direction not in DIRECTIONS:
            raise RefusedError(400, "bad_goal", f"the direction is one of {', '.join(DIRECTIONS)}")
        if (
            not isinstance(target, (int, float))
            or isinstance(target, bool)
            or not math.isfinite(target)
        ):
            raise RefusedError(400, "bad_goal", "the target must be a number")
        if abs(float(target)) > 1e6:
            raise RefusedError(400, "bad_goal", "the target is out of range")
        if by_date is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", by_date):
            raise RefusedError(400, "bad_goal", "the date is written YYYY-MM-DD")
        if len(note) > 500:
            raise RefusedError(400, "bad_goal", "a goal's note has at most 500 characters")
        now = time.time()
        g = s.goals
        async with self.tx() as c:
            await c.execute(
                update(g)
                .where(
                    and_(
                        g.c.student_id == student.id,
                        g.c.metric == metric,
                        g.c.replaced_at.is_(None),
                    )
                )
                .values(replaced_at=now)
            )
            await c.execute(
                insert(g).values(
                    student_id=student.id,
                    metric=metric,
                    target=float(target),
                    unit=m.unit,
                    direction=direction,
                    by_date=by_date,
                    note=note,
                    set_at=now,
                    set_by=user.id,
                )
            )
        return (await self.goals(student))[-1]

    # task plans -------------------------------------------------------------------------

    async def task_plans(self, student: Student, history: bool = False) -> list[dict[str, Any]]:
        """The student's plan in force (a list of one, or none), or every plan ever set,
        oldest first, with ``history``."""
        rows = await self._set_by_therapists(s.task_plans, [student], history)
        return [
            {
                "tasks": json.loads(r.tasks),
                "set_at": r.set_at,
                "set_by": r.email,
                "replaced_at": r.replaced_at,
            }
            for r in rows
        ]

    async def set_task_plan(self, user: User, student: Student, tasks: object) -> dict[str, Any]:
        """Plan ``tasks`` for the student's next sessions (an empty list: no plan, the desk
        offers its usual tasks); the plan it replaces stays in the history.

        Raises:
            RefusedError: not a list of texts, more than :data:`~finemotor.marks.PLAN_TASKS`
                tasks, an empty one or one over :data:`~finemotor.marks.TASK_CHARS` characters.
        """
        if tasks != []:
            problem = task_plan_problem(tasks)
            if problem is not None:
                raise RefusedError(400, "bad_plan", problem)
        assert isinstance(tasks, list)
        cleaned = [clean_mark_text(t) for t in tasks]
        now = time.time()
        p = s.task_plans
        async with self.tx() as c:
            await c.execute(
                update(p)
                .where(and_(p.c.student_id == student.id, p.c.replaced_at.is_(None)))
                .values(replaced_at=now)
            )
            await c.execute(
                insert(p).values(
                    student_id=student.id,
                    tasks=json.dumps(cleaned),
                    set_at=now,
                    set_by=user.id,
                )
            )
        return (await self.task_plans(student))[-1]

    async def desk_plans(self, desk: Desk) -> dict[str, list[str]]:
        """The plan in force for each student at the desk's school who has one."""
        p, st = s.task_plans, s.students
        async with self.tx() as c:
            rows = (
                await c.execute(
                    select(st.c.code, p.c.tasks)
                    .join(p, p.c.student_id == st.c.id)
                    .where(and_(st.c.school_id == desk.school_id, p.c.replaced_at.is_(None)))
                    .order_by(st.c.code)
                )
            ).all()
        plans = {r.code: json.loads(r.tasks) for r in rows}
        return {code: tasks for code, tasks in plans.items() if tasks}

    # settings ---------------------------------------------------------------------------

    async def retention(self) -> Retention | None:
        """The retention an admin set, or None if none was ever set here."""
        st = s.settings
        async with self.tx() as c:
            row = (await c.execute(select(st).where(st.c.name == "retention_days"))).one_or_none()
        if row is None:
            return None
        return Retention(json.loads(row.value), row.set_at, row.set_by)

    async def set_retention(self, days: object, by: str) -> Retention:
        """Keep sessions ``days`` days (None: keep them all); written to the access log.

        Raises:
            RefusedError: not a whole number of days within :data:`RETENTION_DAYS`.
        """
        lo, hi = RETENTION_DAYS
        if days is not None and (
            not isinstance(days, int) or isinstance(days, bool) or not lo <= days <= hi
        ):
            raise RefusedError(
                400,
                "bad_retention",
                f"the retention is a whole number of days from {lo} to {hi}, or none (keep all)",
            )
        now, st = time.time(), s.settings
        row = {"value": json.dumps(days), "set_at": now, "set_by": by[:300]}
        async with self.tx() as c:
            done = await c.execute(update(st).where(st.c.name == "retention_days").values(**row))
            if done.rowcount == 0:
                await c.execute(insert(st).values(name="retention_days", **row))
            detail = "keep all sessions" if days is None else f"keep sessions {days} days"
            await self.log(by, "retention", None, detail, conn=c)
        return Retention(days, now, by)

    # audit ------------------------------------------------------------------------------

    async def log(
        self,
        actor: str,
        action: str,
        student: str | None,
        detail: str = "",
        reason: str = "",
        conn: AsyncConnection | None = None,
    ) -> None:
        """Append one line to the access log (never updated, only appended)."""
        row = {
            "at": time.time(),
            "actor": actor[:300],
            "action": action[:32],
            "student": student,
            "detail": detail[:2000],
            "reason": reason[:2000],
        }
        if conn is not None:
            await conn.execute(insert(s.audit).values(**row))
            return
        async with self.tx() as c:
            await c.execute(insert(s.audit).values(**row))

    async def audit(self, student: str | None = None, limit: int = 1000) -> list[AuditEntry]:
        """The newest entries of the access log (of one student, if given), newest first."""
        a = s.audit
        q = select(a).order_by(a.c.id.desc()).limit(max(1, min(limit, 10000)))
        if student is not None:
            q = q.where(a.c.student == student)
        async with self.tx() as c:
            rows = (await c.execute(q)).all()
        return [AuditEntry(r.at, r.actor, r.action, r.student, r.detail, r.reason) for r in rows]

    async def forget_student(self, student: Student) -> str:
        """Remove the student itself (caseload entries, goals, task plans) and pseudonymise the
        access log's entries about it; the pseudonym the log now uses. Sessions are removed by
        :meth:`finemotor.server.records.Records.delete_sessions`."""
        pseudonym = f"deleted-{new_token()[:12]}"
        async with self.tx() as c:
            await c.execute(delete(s.goals).where(s.goals.c.student_id == student.id))
            await c.execute(delete(s.task_plans).where(s.task_plans.c.student_id == student.id))
            await c.execute(delete(s.caseloads).where(s.caseloads.c.student_id == student.id))
            await c.execute(delete(s.students).where(s.students.c.id == student.id))
            await c.execute(
                update(s.audit).where(s.audit.c.student == student.code).values(student=pseudonym)
            )
        return pseudonym
