"""Migrations against the real PostgreSQL: order, idempotence, concurrency, and the schema's guarantees."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from luna_hub.database.migrate import apply_migrations, available_migrations
from support.databases import fresh_database


def test_migrations_are_ordered_and_numbered_uniquely() -> None:
    versions = [migration.version for migration in available_migrations()]
    assert versions == sorted(set(versions))
    assert versions[0] == 1


async def test_applying_twice_applies_nothing_the_second_time(pg_admin_dsn: str) -> None:
    async with fresh_database(pg_admin_dsn) as dsn:
        connection = await asyncpg.connect(dsn)
        try:
            first = await apply_migrations(connection, timezone="Europe/Berlin")
            second = await apply_migrations(connection, timezone="UTC")
            recorded = [row["version"] for row in await connection.fetch("SELECT version FROM schema_migrations")]
            zone = await connection.fetchval("SELECT timezone FROM rollup_settings")
        finally:
            await connection.close()
    assert first == [migration.version for migration in available_migrations()]
    assert second == []
    assert sorted(recorded) == first
    assert zone == "Europe/Berlin"  # fixed by the first migration, not changed by a later start


async def test_two_concurrent_migrators_apply_each_version_once(pg_admin_dsn: str) -> None:
    async with fresh_database(pg_admin_dsn) as dsn:
        connections = [await asyncpg.connect(dsn) for _ in range(2)]
        try:
            results = await asyncio.gather(
                *(apply_migrations(connection, timezone="Europe/Berlin") for connection in connections)
            )
            count = await connections[0].fetchval("SELECT count(*) FROM schema_migrations")
        finally:
            for connection in connections:
                await connection.close()
    everything = [migration.version for migration in available_migrations()]
    assert sorted(results, key=len) == [[], everything]
    assert count == len(everything)


async def test_a_failing_migration_names_its_file_and_keeps_nothing(pg_admin_dsn: str) -> None:
    async with fresh_database(pg_admin_dsn) as dsn:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute("CREATE TABLE sites (clash int)")  # makes 0001 fail half way
            with pytest.raises(Exception, match=r"migration 0001_core\.sql failed"):
                await apply_migrations(connection, timezone="Europe/Berlin")
            tables = await connection.fetchval("SELECT count(*) FROM pg_tables WHERE tablename = 'meters'")
            done = await connection.fetchval("SELECT count(*) FROM schema_migrations")
        finally:
            await connection.close()
    assert tables == 0
    assert done == 0


@pytest.fixture
async def db(hub_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(hub_dsn)
    await apply_migrations(connection, timezone="Europe/Berlin")
    yield connection
    await connection.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'mallory'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
async def test_audit_log_is_append_only(db: asyncpg.Connection, statement: str) -> None:
    await db.execute("INSERT INTO audit_log (actor, action, target) VALUES ('alice', 'load', 'file.csv')")
    before = await db.fetchval("SELECT count(*) FROM audit_log")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute(statement)
    assert await db.fetchval("SELECT count(*) FROM audit_log") == before
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE actor = 'mallory'") == 0


async def test_readings_are_keyed_by_meter_metric_and_time(db: asyncpg.Connection) -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    insert = (
        "INSERT INTO smart_meter_readings (meter_id, metric, ts, value, unit) VALUES ($1, $2, $3, $4, 'W')"
        " ON CONFLICT DO NOTHING"
    )
    assert await db.execute(insert, "key-m1", "power_w", at, 1.0) == "INSERT 0 1"
    assert await db.execute(insert, "key-m1", "power_w", at, 2.0) == "INSERT 0 0"
    assert await db.execute(insert, "key-m1", "voltage_l1_v", at, 230.0) == "INSERT 0 1"
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(
            "INSERT INTO smart_meter_readings (meter_id, metric, ts, value, unit, quality)"
            " VALUES ('key-m1', 'power_w', now(), 1, 'W', 'great')"
        )


async def test_timescaledb_migration_is_recorded_as_skipped_on_plain_postgres(db: asyncpg.Connection) -> None:
    available = await db.fetchval("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")
    if available:
        pytest.skip("this PostgreSQL offers TimescaleDB; tests/hub/test_timescale.py covers that path")
    names = dict(await db.fetch("SELECT version, name FROM schema_migrations"))
    assert names[3] == "timescaledb (skipped: no TimescaleDB)"
    assert await db.fetchval("SELECT engine FROM rollup_settings") == "plain"
    assert await db.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'") == 0


async def test_every_append_only_table_is_guarded_by_the_one_trigger_function(db: asyncpg.Connection) -> None:
    guards = await db.fetch(
        "SELECT DISTINCT c.relname AS table_name, p.proname AS function_name FROM pg_trigger t"
        " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid"
        " WHERE NOT t.tgisinternal AND p.proname LIKE '%append_only%' ORDER BY 1"
    )
    assert [(row["table_name"], row["function_name"]) for row in guards] == [
        ("admin_log", "refuse_append_only_change"),
        ("audit_log", "refuse_append_only_change"),
        ("model_calls", "refuse_append_only_change"),
    ]
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="model_calls is append-only: TRUNCATE refused"):
        await db.execute("TRUNCATE model_calls")
