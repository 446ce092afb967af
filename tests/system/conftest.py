"""Fixtures of the system tests: one migrated database for the session, a folder per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.databases import database_for_session
from support.hub import migrated_pool
from support.services import _run

__all__ = ["system_dsn"]


@pytest.fixture(scope="session")
def system_dsn(pg_admin_dsn: str) -> Iterator[str]:
    """A database of its own for the system tests, migrated once, dropped after the session."""
    with database_for_session(pg_admin_dsn, "luna_system_test") as dsn:
        _run(_migrate(dsn))
        yield dsn


async def _migrate(dsn: str) -> None:
    async with migrated_pool(dsn):
        pass
