"""``luna-hub create-agent`` as a real process against the real PostgreSQL."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from luna_hub.agents.services import verify_agent_key
from support.databases import database_for_session
from support.processes import BIN


@pytest.fixture(scope="module")
def cli_dsn(pg_admin_dsn: str) -> Iterator[str]:
    with database_for_session(pg_admin_dsn, "luna_agent_cli_test") as dsn:
        yield dsn


def hub(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "luna-hub"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LUNA_DATABASE_URL": dsn, "LUNA_LOG__LEVEL": "WARNING"},
        check=False,
    )


async def owner(dsn: str, key: str) -> tuple[str, str] | None:
    connection = await asyncpg.connect(dsn)
    try:
        identity = await verify_agent_key(connection, key)
    finally:
        await connection.close()
    return None if identity is None else (identity.agent_id, identity.site_id)


def test_help() -> None:
    result = subprocess.run(
        [str(BIN / "luna-hub"), "create-agent", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "usage: luna-hub create-agent" in result.stdout
    assert "--key-file" in result.stdout


async def test_create_agent_prints_a_working_key_once(cli_dsn: str) -> None:
    result = hub(cli_dsn, "create-agent", "cli-agent-1", "--site", "cli-site-1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "agent 'cli-agent-1' at site 'cli-site-1'; its key (shown once, store it now):"
    assert lines[1].startswith("lak_")
    assert await owner(cli_dsn, lines[1]) == ("cli-agent-1", "cli-site-1")
    second = hub(cli_dsn, "create-agent", "cli-agent-1", "--site", "cli-site-1").stdout.splitlines()[1]
    assert second != lines[1]
    assert await owner(cli_dsn, lines[1]) is not None  # an earlier key stays valid


async def test_create_agent_writes_the_key_file_private(cli_dsn: str, tmp_path: Path) -> None:
    path = tmp_path / "keys" / "agent.key"
    result = hub(cli_dsn, "create-agent", "cli-agent-2", "--site", "cli-site-2", "--key-file", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"agent 'cli-agent-2' at site 'cli-site-2'; key written to {path}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert await owner(cli_dsn, path.read_text().strip()) == ("cli-agent-2", "cli-site-2")


def test_an_agent_cannot_move_to_another_site_nor_have_a_bad_name(cli_dsn: str) -> None:
    assert hub(cli_dsn, "create-agent", "cli-agent-3", "--site", "cli-site-3").returncode == 0
    moved = hub(cli_dsn, "create-agent", "cli-agent-3", "--site", "elsewhere")
    assert moved.returncode == 1
    assert moved.stderr == "luna-hub: error: agent 'cli-agent-3' belongs to site 'cli-site-3', not 'elsewhere'\n"
    bad = hub(cli_dsn, "create-agent", "bad/name", "--site", "s")
    assert bad.returncode == 1
    assert bad.stderr.startswith("luna-hub: error: invalid agent id 'bad/name'")
