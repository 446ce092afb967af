"""Fixtures of the observability tests: the hub tests' database, migrated before each test."""

from __future__ import annotations

import pytest

from support.hub import migrated_pool


@pytest.fixture(autouse=True)
async def migrated(hub_dsn: str) -> None:
    """Migrate the database (a no-op once done) so agents can be made before a hub starts."""
    async with migrated_pool(hub_dsn):
        pass
