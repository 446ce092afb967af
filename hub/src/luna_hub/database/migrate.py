"""Versioned SQL migrations shipped in ``luna_hub/database/migrations``, applied in order.

Each file ``NNNN_name.sql`` runs once, in its own transaction, and is recorded in
``schema_migrations``. A session-level advisory lock serialises concurrent migrators (two hub
processes starting together): the second waits, then finds nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Final

import asyncpg

from luna_hub.errors import HubError
from luna_shared.logs import get_logger

__all__ = ["Migration", "MigrationError", "apply_migrations", "available_migrations", "timescaledb_available"]

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


def available_migrations() -> list[Migration]:
    """Return the migrations shipped with the package, ordered by version."""
    found = []
    for entry in resources.files("luna_hub.database.migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        number, _, rest = entry.name.partition("_")
        found.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
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
    """Apply the pending migrations under the advisory lock; return the versions applied now."""
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
            _log.info("applying migration", version=migration.version, name=migration.name)
            try:
                async with connection.transaction():
                    await connection.execute(migration.sql)
                    await connection.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        migration.version,
                        migration.name,
                    )
            except asyncpg.PostgresError as exc:
                msg = f"migration {migration.version:04d}_{migration.name}.sql failed: {exc}"
                raise MigrationError(msg) from exc
            applied.append(migration.version)
        await connection.execute(
            "INSERT INTO rollup_settings (timezone) VALUES ($1) ON CONFLICT (singleton) DO NOTHING", timezone
        )
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied
