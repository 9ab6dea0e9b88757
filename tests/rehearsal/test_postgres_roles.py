"""deploy/postgres/init.sh, run for real: two roles and one database per service; each service connects as its own
role with its password (host connections need one: scram-sha-256, as in the postgres image)."""

from __future__ import annotations

import asyncpg
import pytest

from tests.rehearsal.topology import SERVICES, Rehearsal


def url(r: Rehearsal, user: str, password: str, database: str) -> str:
    return f"postgresql://{user}:{password}@127.0.0.1:{r.ports.postgres}/{database}"


async def admin(r: Rehearsal, database: str = "postgres") -> asyncpg.Connection:
    return await asyncpg.connect(r.admin_url_of(database))


@pytest.mark.parametrize("service", SERVICES)
async def test_the_service_connects_as_its_own_role_and_its_store_belongs_to_the_owner(rehearsal, service):
    conn = await admin(rehearsal, f"kim_{service}")
    try:
        sessions = await conn.fetch("SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = $1",
                                    f"kim_{service}")
        owner = await conn.fetchval("SELECT tableowner FROM pg_tables WHERE tablename = 'events'")
        db_owner = await conn.fetchval("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1",
                                       f"kim_{service}")
    finally:
        await conn.close()
    assert f"kim_{service}_app" in {s["usename"] for s in sessions}
    assert owner == db_owner == f"kim_{service}"  # the migrations ran as the database's owner


@pytest.mark.parametrize("service", SERVICES)
async def test_the_service_role_reads_but_never_rewrites_events(rehearsal, service):
    password = rehearsal.env[f"KIM_{service.upper()}_DB_APP_PASSWORD"]
    conn = await asyncpg.connect(url(rehearsal, f"kim_{service}_app", password, f"kim_{service}"))
    try:
        assert await conn.fetchval("SELECT has_table_privilege('events', 'SELECT')")
        assert await conn.fetchval("SELECT count(*) FROM events") >= 0
        for sql in ("UPDATE events SET version = version", "DELETE FROM events"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
    finally:
        await conn.close()


async def test_a_wrong_password_is_refused(rehearsal):
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(url(rehearsal, "kim_cases_app", "not-the-password-0123", "kim_cases"))


async def test_a_service_role_cannot_connect_to_another_services_database(rehearsal):
    password = rehearsal.env["KIM_CASES_DB_APP_PASSWORD"]
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database"):
        await asyncpg.connect(url(rehearsal, "kim_cases_app", password, "kim_staffing"))
    owner_password = rehearsal.env["KIM_STAFFING_DB_PASSWORD"]
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database"):
        await asyncpg.connect(url(rehearsal, "kim_staffing", owner_password, "kim_referrals"))
