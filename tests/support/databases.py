"""Fresh PostgreSQL databases for tests that need an empty one (migrations, concurrency)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from support.services import _admin, _run  # the same private-loop admin helpers pg_dsn uses

__all__ = ["database_for_session", "fresh_database"]


@asynccontextmanager
async def fresh_database(admin_dsn: str) -> AsyncIterator[str]:
    """Create an empty, uniquely named database; yield its DSN; drop it afterwards."""
    name = f"luna_fresh_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(urlsplit(admin_dsn)._replace(path=f"/{name}"))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextmanager
def database_for_session(admin_dsn: str, prefix: str) -> Iterator[str]:
    """Like :func:`fresh_database`, for synchronous session fixtures (runs on a private event loop)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _run(_admin(admin_dsn, f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(admin_dsn)._replace(path=f"/{name}"))
    finally:
        _run(_admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
