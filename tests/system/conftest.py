"""Fixtures of the system tests: one migrated database for the session; per test a hub, a site, agent processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.databases import database_for_session
from support.hub import migrated_pool
from support.services import _run
from support.system import AgentRun, HubRun, SiteAgent

__all__ = ["agents", "hub", "site", "system_dsn"]


@pytest.fixture(scope="session")
def system_dsn(pg_admin_dsn: str) -> Iterator[str]:
    """A database of its own for the system tests, migrated once, dropped after the session."""
    with database_for_session(pg_admin_dsn, "luna_system_test") as dsn:
        _run(_migrate(dsn))
        yield dsn


async def _migrate(dsn: str) -> None:
    async with migrated_pool(dsn):
        pass


@pytest.fixture
def hub(system_dsn: str, tmp_path: Path) -> Iterator[HubRun]:
    """A hub on the system database, not started yet; killed at the end if still running."""
    running = HubRun(system_dsn, tmp_path)
    yield running
    running.kill()


@pytest.fixture
def site(tmp_path: Path) -> SiteAgent:
    """Fresh agent, site and meter names, files in the test's folder."""
    return SiteAgent.new(tmp_path)


@pytest.fixture
def agents() -> Iterator[list[AgentRun]]:
    """Agent processes a test starts; killed at the end if the test left one running."""
    started: list[AgentRun] = []
    yield started
    for agent in started:
        if agent.process.process.poll() is None:
            agent.kill()
