"""The store on both databases: migrations, accounts, enrolment codes, caseload rules."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from server_helpers import Db
from sqlalchemy import text
from sqlalchemy.engine import URL
from tests.host.aiotest import run

from finemotor.errors import NotFoundError, RefusedError, StoreError
from finemotor.server import schema
from finemotor.server.database import head_revision, make_engine, open_engine
from finemotor.server.store import Store

PASSWORD = "correct horse battery staple"


def test_migrations_build_exactly_the_schema(db: Db) -> None:
    async def go() -> list[object]:
        engine = await open_engine(db.url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda c: compare_metadata(MigrationContext.configure(c), schema.metadata)
                )
        finally:
            await engine.dispose()

    assert run(go()) == []


def test_migrating_twice_keeps_the_data(db: Db) -> None:
    async def go() -> list[str]:
        store = await Store.open(db.url)
        await store.add_school("Oak Primary")
        await store.close()
        again = await Store.open(db.url)
        try:
            return await again.schools()
        finally:
            await again.close()

    assert run(go()) == ["Oak Primary"]


def test_a_database_from_a_newer_finemotor_is_refused(db: Db) -> None:
    async def go() -> None:
        await (await Store.open(db.url)).close()  # migrated to our head
        engine = make_engine(db.url)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        await engine.dispose()
        await Store.open(db.url)

    with pytest.raises(StoreError) as err:
        run(go())
    assert err.value.reason == "too_new"
    assert "upgrade finemotor" in str(err.value)
    assert head_revision() in str(err.value)


def test_an_unreachable_database_says_what_to_check(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = URL.create(
        "postgresql+asyncpg",
        username="u",
        password="s3cret-pw",
        database="x",
        query={"host": str(tmp_path)},
    )
    with pytest.raises(StoreError) as err:
        run(Store.open(url))
    message = str(err.value)
    assert err.value.reason == "unreachable"
    assert "check that PostgreSQL is running" in message
    assert "s3cret-pw" not in message


def test_passwords_are_argon2id_and_checked(db: Db) -> None:
    async def go() -> None:
        store = await Store.open(db.url)
        try:
            user = await store.add_user("OT@District.example", "therapist", PASSWORD)
            assert user.email == "ot@district.example"
            async with store.engine.connect() as c:
                stored = (await c.execute(text("SELECT password_hash FROM users"))).scalar_one()
            assert stored.startswith("$argon2id$") and PASSWORD not in stored
            assert await store.check_password("ot@district.example", PASSWORD) == user
            assert await store.check_password("ot@district.example", PASSWORD + "x") is None
            assert await store.check_password("nobody@district.example", PASSWORD) is None
            with pytest.raises(RefusedError, match="at least 10"):
                await store.add_user("b@district.example", "therapist", "short")
            with pytest.raises(RefusedError, match="already an account"):
                await store.add_user("ot@district.example", "admin", PASSWORD)
            with pytest.raises(RefusedError, match="role"):
                await store.add_user("c@district.example", "root", PASSWORD)
        finally:
            await store.close()

    run(go())


def test_an_enrolment_code_works_once_and_expires(db: Db) -> None:
    async def go() -> None:
        store = await Store.open(db.url)
        try:
            await store.add_school("Oak Primary")
            code, _ = await store.new_enrol_code("Oak Primary")
            enrolled = await store.enrol(code.lower().replace("-", " "), "desk 1")
            assert len(enrolled.credential) >= 43  # 256 bits, URL-safe base64
            assert (await store.desk(enrolled.credential)) is not None
            async with store.engine.connect() as c:
                kept = (await c.execute(text("SELECT credential_digest FROM desks"))).scalar_one()
            assert enrolled.credential not in kept and len(kept) == 64
            with pytest.raises(RefusedError, match="not valid") as used:
                await store.enrol(code, "desk 2")
            assert used.value.status == 403
            old, _ = await store.new_enrol_code("Oak Primary", ttl_s=0.01)
            await asyncio.sleep(0.05)
            with pytest.raises(RefusedError, match="not valid"):
                await store.enrol(old, "desk 3")
            with pytest.raises(NotFoundError, match="school add"):
                await store.new_enrol_code("Nowhere School")
            revoked = await store.revoke_desk(enrolled.desk_id)
            assert revoked.revoked_at is not None
            assert await store.desk(enrolled.credential) is None
        finally:
            await store.close()

    run(go())


def test_caseload_rules(db: Db) -> None:
    async def go() -> None:
        store = await Store.open(db.url)
        try:
            ot = await store.add_user("ot@district.example", "therapist", PASSWORD)
            await store.add_user("admin@district.example", "admin", PASSWORD)
            await store.add_school("Oak Primary")
            await store.add_school("Elm Middle")
            await store.add_to_caseload("ot@district.example", "S-1", "Oak Primary")
            with pytest.raises(RefusedError, match="another school"):
                await store.add_to_caseload("ot@district.example", "S-1", "Elm Middle")
            with pytest.raises(RefusedError, match="already on"):
                await store.add_to_caseload("ot@district.example", "S-1", "Oak Primary")
            with pytest.raises(RefusedError, match="not a therapist"):
                await store.add_to_caseload("admin@district.example", "S-2", "Oak Primary")
            with pytest.raises(RefusedError, match="letters, digits"):
                await store.add_to_caseload("ot@district.example", "Jane Doe", "Oak Primary")
            assert [s.code for s in await store.caseload(ot)] == ["S-1"]
            with pytest.raises(NotFoundError):
                await store.student_for(ot, "S-9")
            await store.remove_from_caseload("ot@district.example", "S-1")
            assert await store.caseload(ot) == []
        finally:
            await store.close()

    run(go())


def test_a_caseloads_goals_come_in_one_query_each_to_its_own_student(db: Db) -> None:
    async def go() -> None:
        store = await Store.open(db.url)
        try:
            ot = await store.add_user("ot@district.example", "therapist", PASSWORD)
            await store.add_school("Oak Primary")
            for code in ("S-1", "S-2", "S-3"):
                await store.add_to_caseload("ot@district.example", code, "Oak Primary")
            s1, s2, s3 = await store.caseload(ot)
            await store.set_goal(ot, s1, "grip_peak_right", 150.0)
            await store.set_goal(ot, s1, "grip_peak_right", 160.0)  # replaces the first
            await store.set_goal(ot, s3, "pen_cv", 0.2)
            await store.set_goal(ot, s3, "grip_peak_left", 120.0)
            got = await store.goals_of([s1, s2, s3])
            assert got == {st.id: await store.goals(st) for st in (s1, s2, s3)}
            assert [g["target"] for g in got[s1.id]] == [160.0] and got[s2.id] == []
            assert [g["metric"] for g in got[s3.id]] == ["pen_cv", "grip_peak_left"]
            assert await store.goals_of([]) == {}
        finally:
            await store.close()

    run(go())
