"""``GET /health``: 200 once the database answers with the schema this hub needs, 503 with a problem body otherwise.

Health must not starve behind the work it reports on: when every pooled connection is busy (20
parallel loads), it checks on a connection of its own instead of queueing for one of them.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

import asyncpg
import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from luna_hub.database.migrate import available_migrations
from luna_hub.errors import UnavailableError

__all__ = ["Health", "health", "health_dependencies"]

_TIMEOUT = 5.0
Connect = Callable[[], Awaitable[asyncpg.Connection]]


class Health(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The hub is up and its database answers."""

    status: str
    database: str
    rollup_failures: int = 0
    """Written ranges the rollup refresher had to skip (table ``rollup_failures``); shown when not 0."""


@functools.cache
def _latest_migration() -> int:
    return max(migration.version for migration in available_migrations())


async def check_database(pool: asyncpg.Pool, connect: Connect | None = None, *, migrating: bool = False) -> Health:
    """Return the hub's health, or raise :class:`UnavailableError` saying what is wrong.

    ``migrating``: the hub is migrating the schema right now, so only reachability is checked.
    """
    try:
        if connect is not None and pool.get_size() >= pool.get_max_size() and pool.get_idle_size() == 0:
            connection = await asyncio.wait_for(connect(), _TIMEOUT)  # the pool is busy, not the database
            try:
                return await _inspect(connection, migrating=migrating)
            finally:
                await connection.close(timeout=_TIMEOUT)
        async with pool.acquire(timeout=_TIMEOUT) as connection:
            return await _inspect(connection, migrating=migrating)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        msg = f"database unreachable: {exc}"
        raise UnavailableError(msg) from exc


async def _inspect(connection: asyncpg.Connection, *, migrating: bool) -> Health:
    row = await connection.fetchrow(
        "SELECT current_setting('server_version') AS version, to_regclass('schema_migrations') IS NOT NULL AS ledger,"
        " to_regclass('rollup_failures') IS NOT NULL AS failures"
    )
    if migrating:
        msg = "database schema is being migrated"
        raise UnavailableError(msg)
    version = await connection.fetchval("SELECT max(version) FROM schema_migrations") if row["ledger"] else None
    if version is None or version < _latest_migration():
        at = "no schema_migrations table" if version is None else f"at version {version}"
        msg = (
            f"database schema not migrated ({at}, this hub needs {_latest_migration()}):"
            " restart the hub or run luna-hub migrate"
        )
        raise UnavailableError(msg)
    failures = await connection.fetchval("SELECT count(*) FROM rollup_failures") if row["failures"] else 0
    return Health(status="ok", database=f"PostgreSQL {row['version']}", rollup_failures=failures)


def provide_health_connect(state: State) -> Connect | None:
    """Return how to open a connection of health's own (set by the database lifespan), if any."""
    connect: Connect | None = state.get("health_connect")
    return connect


def health_dependencies() -> dict[str, Provide]:
    """Return the dependency ``health_connect``."""
    return {"health_connect": Provide(provide_health_connect, sync_to_thread=False)}


@get("/health", tags=["system"], summary="Readiness of the hub and its database", dependencies=health_dependencies())
async def health(
    db_pool: NamedDependency[asyncpg.Pool],
    schema_ready: NamedDependency[asyncio.Event],
    health_connect: NamedDependency[Connect | None],
) -> Health:
    """Report readiness; 503 (problem JSON) while the database cannot be reached or is not migrated (yet)."""
    return await check_database(db_pool, health_connect, migrating=not schema_ready.is_set())
