"""A migrated PostgreSQL database of a benchmark's own, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from luna_hub.database.migrate import apply_migrations

__all__ = ["ADMIN_DSN", "migrated_database"]

ADMIN_DSN = os.environ.get("LUNA_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@asynccontextmanager
async def migrated_database(timezone: str = "Europe/Berlin") -> AsyncIterator[str]:
    """Create a database ``luna_bench_*``, migrate it (rollups in ``timezone``), yield its DSN, drop it."""
    name = f"luna_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    try:
        connection = await asyncpg.connect(dsn)
        try:
            await apply_migrations(connection, timezone=timezone)
        finally:
            await connection.close()
        yield dsn
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
