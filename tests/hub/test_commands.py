"""``luna-hub migrate | load | create-user | create-api-key | create-agent`` as processes against real PostgreSQL."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from luna_hub.auth.services import hash_key
from luna_hub.database.migrate import available_migrations
from support.databases import database_for_session
from support.processes import BIN
from support.sync import key_owner

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def cli_dsn(pg_admin_dsn: str) -> Iterator[str]:
    with database_for_session(pg_admin_dsn, "luna_cli_test") as dsn:
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


@pytest.mark.parametrize("command", ["migrate", "load", "create-user", "create-api-key", "create-agent"])
def test_help_of_every_command(command: str) -> None:
    result = subprocess.run([str(BIN / "luna-hub"), command, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert f"usage: luna-hub {command}" in result.stdout


def test_migrate_is_idempotent(cli_dsn: str) -> None:
    first, second = hub(cli_dsn, "migrate"), hub(cli_dsn, "migrate")
    assert (first.returncode, second.returncode) == (0, 0)
    assert first.stdout == second.stdout == f"schema is at version {available_migrations()[-1].version}\n"


def test_load_reports_rejected_rows_by_file_and_line(cli_dsn: str, tmp_path: Path) -> None:
    data = tmp_path / "readings.csv"
    data.write_text("meter_id,metric,ts,value\ncli-m1,power_w,2024-01-01T00:00:00Z,5\ncli-m1,power_w,soon,6\n")
    result = hub(cli_dsn, "load", str(data))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{data}: 1 stored, 0 already there, 1 rejected")
    assert f"{data}:3: rejected: not an ISO 8601 timestamp: 'soon'" in result.stderr
    strict = hub(cli_dsn, "load", "--strict", str(data))
    assert strict.returncode == 1
    assert "strict=true: nothing stored" in strict.stderr


def test_load_a_real_price_file_twice(cli_dsn: str) -> None:
    fixture = FIXTURES / "smard_dst_2024.csv"
    first = hub(cli_dsn, "load", "--market", "CLI-DE-LU", str(fixture))
    again = hub(cli_dsn, "load", "--market", "CLI-DE-LU", str(fixture))
    assert first.stdout.startswith(f"{fixture}: 96 stored, 0 already there, 0 rejected")
    assert again.stdout.startswith(f"{fixture}: 0 stored, 96 already there, 0 rejected")


def test_load_of_a_malformed_or_missing_file_names_it(cli_dsn: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("nothing,we,know\n1,2,3\n")
    result = hub(cli_dsn, "load", str(bad))
    assert result.returncode == 1
    assert result.stderr.startswith(f"luna-hub: {bad}: unrecognised header")
    missing = hub(cli_dsn, "load", str(tmp_path / "nope.csv"))
    assert missing.returncode == 1
    assert "No such file or directory" in missing.stderr


async def test_users_and_keys_store_only_a_hash(cli_dsn: str) -> None:
    created = hub(cli_dsn, "create-user", "carol", "--display-name", "Carol C.")
    assert created.returncode == 0
    assert hub(cli_dsn, "create-user", "carol").stderr.strip() == "luna-hub: error: user 'carol' exists already"
    result = hub(cli_dsn, "create-api-key", "carol", "--name", "analysis")
    assert result.returncode == 0
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("luna_")
    connection = await asyncpg.connect(cli_dsn)
    try:
        rows = await connection.fetch("SELECT * FROM api_keys")
    finally:
        await connection.close()
    assert [row["key_hash"] for row in rows] == [hash_key(key)]
    assert all(key not in str(dict(row)) for row in rows)
    connection = await asyncpg.connect(cli_dsn)
    try:
        entries = await connection.fetch("SELECT actor, action, target FROM audit_log WHERE target = 'carol'")
    finally:
        await connection.close()
    assert [(e["actor"].split(":")[0], e["action"]) for e in entries] == [
        ("cli", "user.create"),
        ("cli", "api_key.create"),
    ]
    nobody = hub(cli_dsn, "create-api-key", "dave")
    assert nobody.returncode == 1
    assert "no user 'dave'" in nobody.stderr


async def test_create_agent_prints_a_working_key_once(cli_dsn: str) -> None:
    result = hub(cli_dsn, "create-agent", "cli-agent-1", "--site", "cli-site-1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "agent 'cli-agent-1' at site 'cli-site-1'; its key (shown once, store it now):"
    assert lines[1].startswith("lak_")
    assert await key_owner(cli_dsn, lines[1]) == ("cli-agent-1", "cli-site-1")
    second = hub(cli_dsn, "create-agent", "cli-agent-1", "--site", "cli-site-1").stdout.splitlines()[1]
    assert second != lines[1]
    assert await key_owner(cli_dsn, lines[1]) is not None  # an earlier key stays valid


async def test_create_agent_writes_the_key_file_private(cli_dsn: str, tmp_path: Path) -> None:
    path = tmp_path / "keys" / "agent.key"
    result = hub(cli_dsn, "create-agent", "cli-agent-2", "--site", "cli-site-2", "--key-file", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"agent 'cli-agent-2' at site 'cli-site-2'; key written to {path}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert await key_owner(cli_dsn, path.read_text().strip()) == ("cli-agent-2", "cli-site-2")


def test_an_agent_cannot_move_to_another_site_nor_have_a_bad_name(cli_dsn: str) -> None:
    assert hub(cli_dsn, "create-agent", "cli-agent-3", "--site", "cli-site-3").returncode == 0
    moved = hub(cli_dsn, "create-agent", "cli-agent-3", "--site", "elsewhere")
    assert moved.returncode == 1
    assert moved.stderr == "luna-hub: error: agent 'cli-agent-3' belongs to site 'cli-site-3', not 'elsewhere'\n"
    bad = hub(cli_dsn, "create-agent", "bad/name", "--site", "s")
    assert bad.returncode == 1
    assert bad.stderr.startswith("luna-hub: error: invalid agent id 'bad/name'")
