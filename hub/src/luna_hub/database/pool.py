"""The asyncpg connection pool the hub's repositories share."""

from __future__ import annotations

from urllib.parse import urlsplit

import asyncpg

__all__ = ["create_pool", "describe_dsn"]


async def create_pool(dsn: str, *, max_size: int) -> asyncpg.Pool:
    """Create a pool that connects lazily, so the hub starts even while the database is still coming up."""
    return await asyncpg.create_pool(dsn, min_size=0, max_size=max_size, command_timeout=60)


def describe_dsn(dsn: str) -> str:
    """Return the DSN without its password, fit for logs and status pages."""
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    if not host and "host=" in parts.query:
        host = parts.query.split("host=", 1)[1].split("&", 1)[0]
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.username or ''}@{host}{port}{parts.path}"
