"""Fresh PostgreSQL databases for tests that need an empty one (migrations, concurrency)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

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
    _on_private_loop(_admin(admin_dsn, f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(admin_dsn)._replace(path=f"/{name}"))
    finally:
        _on_private_loop(_admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _on_private_loop(work: Coroutine[None, None, None]) -> None:
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(work)
    finally:
        loop.close()


async def _admin(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
