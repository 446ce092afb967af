"""The asyncpg connection pool the hub's repositories share."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import asyncpg

__all__ = ["close_pool", "create_pool", "describe_dsn"]


async def create_pool(
    dsn: str, *, max_size: int, statement_cache_size: int = 100, search_path: str | None = None
) -> asyncpg.Pool:
    """Create a pool that connects lazily, so the hub starts even while the database is still coming up.

    ``search_path`` is set on every acquired connection: some servers (the PGlite TimescaleDB engine used
    in tests) share one session between connections, and a reset can leave it at ``pg_catalog``.
    """

    async def pin_search_path(connection: asyncpg.Connection) -> None:
        await connection.execute("SELECT set_config('search_path', $1, false)", search_path)

    return await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=max_size,
        command_timeout=60,
        statement_cache_size=statement_cache_size,
        setup=pin_search_path if search_path else None,
    )


def describe_dsn(dsn: str) -> str:
    """Return the DSN without its password, fit for logs and status pages."""
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    if not host and "host=" in parts.query:
        host = parts.query.split("host=", 1)[1].split("&", 1)[0]
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.username or ''}@{host}{port}{parts.path}"


async def close_pool(pool: asyncpg.Pool, *, grace: float = 5.0) -> None:
    """Close the pool, waiting at most ``grace`` seconds for the server to hang up before dropping the connections.

    A server that ignores the client's Terminate message (the PGlite engine) would otherwise hold
    shutdown for asyncpg's 60 seconds.
    """
    try:
        await asyncio.wait_for(pool.close(), grace)
    except TimeoutError:
        pool.terminate()
