"""Versioned SQL migrations shipped in ``luna_hub/database/migrations``, applied in order.

Each file ``NNNN_name.sql`` runs once, in its own transaction, and is recorded in
``schema_migrations``. A session-level advisory lock serialises concurrent migrators (two hub
processes starting together): the second waits, then finds nothing left to do.

A file ``NNNN_name.timescaledb.sql`` runs only where the server offers TimescaleDB
(``pg_available_extensions``), decided when that version is migrated; elsewhere it is recorded
as skipped and the plain-PostgreSQL schema serves the same API. ``{rollup_timezone}`` in a file
is replaced by the hub's rollup zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Final

import asyncpg

from luna_hub.errors import HubError
from luna_shared.logs import get_logger

__all__ = ["Migration", "MigrationError", "apply_migrations", "available_migrations", "timescaledb_available"]

_ZONE: Final = re.compile(r"^[A-Za-z0-9_+/-]{1,64}$")
_LOCK_KEY: Final = 0x4C554E41  # "LUNA": one advisory lock key for all hub migrators
_log = get_logger(__name__)


class MigrationError(HubError):
    """A migration file failed to apply; nothing of it was kept."""


@dataclass(frozen=True)
class Migration:
    """One versioned SQL file."""

    version: int
    name: str
    sql: str
    needs_timescaledb: bool = False


def available_migrations() -> list[Migration]:
    """Return the migrations shipped with the package, ordered by version."""
    found = []
    for entry in resources.files("luna_hub.database.migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        number, _, rest = entry.name.partition("_")
        name = rest.removesuffix(".sql")
        timescale = name.endswith(".timescaledb")
        found.append(
            Migration(int(number), name.removesuffix(".timescaledb"), entry.read_text(encoding="utf-8"), timescale)
        )
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        msg = f"two migrations share a version: {versions}"
        raise MigrationError(msg)
    return found


async def timescaledb_available(connection: asyncpg.Connection) -> bool:
    """Whether the server can load TimescaleDB (decided once, at migrate time)."""
    return bool(
        await connection.fetchval("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')")
    )


async def apply_migrations(connection: asyncpg.Connection, *, timezone: str) -> list[int]:
    """Apply the pending migrations under the advisory lock; return the versions applied (or skipped) now."""
    if not _ZONE.fullmatch(timezone):
        msg = f"not a time zone name: {timezone!r}"
        raise MigrationError(msg)
    await connection.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row["version"] for row in await connection.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for migration in available_migrations():
            if migration.version in done:
                continue
            skip = migration.needs_timescaledb and not await timescaledb_available(connection)
            _log.info(
                "skipping migration" if skip else "applying migration", version=migration.version, name=migration.name
            )
            try:
                async with connection.transaction():
                    if not skip:
                        await connection.execute(migration.sql.replace("{rollup_timezone}", timezone))
                    await connection.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        migration.version,
                        f"{migration.name} (skipped: no TimescaleDB)" if skip else migration.name,
                    )
            except asyncpg.PostgresError as exc:
                msg = f"migration {migration.version:04d}_{migration.name}.sql failed: {exc}"
                raise MigrationError(msg) from exc
            applied.append(migration.version)
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied
