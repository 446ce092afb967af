"""``luna-hub migrate | load | create-user | create-api-key | revoke-api-key | users | api-keys | create-agent``.

As processes against real PostgreSQL.
"""

from __future__ import annotations

import asyncio
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


@pytest.mark.parametrize(
    "command",
    ["migrate", "load", "create-user", "create-api-key", "revoke-api-key", "users", "api-keys", "create-agent"],
)
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


def test_load_for_a_site_records_it_and_gives_the_meters_to_it(cli_dsn: str, tmp_path: Path) -> None:
    data = tmp_path / "site.csv"
    data.write_text("meter_id,metric,ts,value\ncli-site-m1,power_w,2024-01-01T00:00:00Z,5\n")
    result = hub(cli_dsn, "load", "--site", "cli-site", str(data))
    assert result.returncode == 0, result.stderr
    other = tmp_path / "other.csv"
    other.write_text("meter_id,metric,ts,value\ncli-site-m1,power_w,2024-01-01T01:00:00Z,6\n")
    refused = hub(cli_dsn, "load", "--site", "cli-other-site", str(other))
    assert refused.returncode == 1
    assert "meters of another site: 'cli-site-m1' (site 'cli-site')" in refused.stderr

    async def stored() -> tuple[object, object, int]:
        connection = await asyncpg.connect(cli_dsn)
        try:
            file_site = await connection.fetchval("SELECT site_id FROM loaded_files WHERE name = $1", str(data))
            meter_site = await connection.fetchval("SELECT site_id FROM meters WHERE meter_id = 'cli-site-m1'")
            count = await connection.fetchval(
                "SELECT count(*) FROM smart_meter_readings WHERE meter_id = 'cli-site-m1'"
            )
            return file_site, meter_site, count
        finally:
            await connection.close()

    assert asyncio.run(stored()) == ("cli-site", "cli-site", 1)


def test_load_of_a_malformed_or_missing_file_names_it(cli_dsn: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("nothing,we,know\n1,2,3\n")
    result = hub(cli_dsn, "load", str(bad))
    assert result.returncode == 1
    assert result.stderr.startswith(f"luna-hub: {bad}: unrecognised header")
    missing = hub(cli_dsn, "load", str(tmp_path / "nope.csv"))
    assert missing.returncode == 1
    assert "No such file or directory" in missing.stderr


def hub_stdin(dsn: str, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "luna-hub"), *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        env={
            **os.environ,
            "LUNA_DATABASE_URL": dsn,
            "LUNA_LOG__LEVEL": "WARNING",
            "LUNA_AUTH__PASSWORD_MEMORY_KIB": "8",
            "LUNA_AUTH__PASSWORD_TIME_COST": "1",
            "LUNA_AUTH__PASSWORD_PARALLELISM": "1",
        },
        check=False,
    )


async def test_users_and_keys_store_only_a_hash(cli_dsn: str) -> None:
    created = hub(cli_dsn, "create-user", "carol", "--role", "analyst", "--display-name", "Carol C.")
    assert created.returncode == 0, created.stderr
    assert created.stdout == "created user 'carol', role analyst, reads every site; no password: API keys only\n"
    again = hub(cli_dsn, "create-user", "carol", "--role", "analyst")
    assert again.stderr == "luna-hub: error: user 'carol' exists already\n"
    result = hub(cli_dsn, "create-api-key", "carol", "--name", "analysis")
    assert result.returncode == 0
    assert "never expires (shown once, store it now):" in result.stdout
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("luna_")
    connection = await asyncpg.connect(cli_dsn)
    try:
        rows = await connection.fetch("SELECT * FROM api_keys")
        entries = await connection.fetch(
            "SELECT actor, action, target FROM admin_log WHERE target = 'carol' ORDER BY entry_id"
        )
    finally:
        await connection.close()
    assert [row["key_hash"] for row in rows] == [hash_key(key)]
    assert all(key not in str(dict(row)) for row in rows)
    assert [(e["actor"].split(":")[0], e["action"]) for e in entries] == [
        ("cli", "user.create"),
        ("cli", "api_key.create"),
    ]
    nobody = hub(cli_dsn, "create-api-key", "dave")
    assert nobody.returncode == 1
    assert nobody.stderr == "luna-hub: error: no user 'dave': create it first (luna-hub create-user)\n"


async def test_a_user_with_sites_and_a_password_from_stdin(cli_dsn: str) -> None:
    result = hub_stdin(
        cli_dsn, "s3cret-pass\n", "create-user", "erin", "--role", "user", "--site", "s1", "--site", "s2",
        "--password-stdin",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "created user 'erin', role user, reads s1, s2; with a password\n"
    connection = await asyncpg.connect(cli_dsn)
    try:
        row = await connection.fetchrow("SELECT role, sites, password_hash FROM users WHERE username = 'erin'")
    finally:
        await connection.close()
    assert (row["role"], row["sites"]) == ("user", ["s1", "s2"])
    assert row["password_hash"].startswith("$argon2id$")
    empty = hub_stdin(cli_dsn, "", "create-user", "frank", "--role", "user", "--password-stdin")
    assert (empty.returncode, empty.stderr) == (2, "luna-hub: --password-stdin: standard input holds no password\n")
    short = hub_stdin(cli_dsn, "short\n", "create-user", "frank", "--role", "user", "--password-stdin")
    assert short.stderr == "luna-hub: error: the password is too short: at least 8 characters\n"
    no_role = hub(cli_dsn, "create-user", "frank")
    assert no_role.returncode == 2
    assert "the following arguments are required: --role" in no_role.stderr
    plain = hub(cli_dsn, "create-user", "grace", "--role", "user")
    assert "reads no site yet" in plain.stdout


def test_keys_expire_list_and_revoke(cli_dsn: str) -> None:
    assert hub(cli_dsn, "create-user", "heidi", "--role", "admin").returncode == 0
    created = hub(cli_dsn, "create-api-key", "heidi", "--name", "ci", "--expires-in", "90d")
    assert created.returncode == 0, created.stderr
    header = created.stdout.splitlines()[0]
    key_id = header.split()[2]
    assert f"API key {key_id} 'ci' for 'heidi', expires " in header
    prefix = created.stdout.splitlines()[1].split("_")[1]
    bad = hub(cli_dsn, "create-api-key", "heidi", "--expires-in", "soon")
    assert bad.stderr == "luna-hub: error: invalid duration 'soon': a positive number with m, h, d or w, e.g. 90d\n"
    listed = hub(cli_dsn, "api-keys", "--user", "heidi").stdout.splitlines()
    assert listed[0].split()[:4] == ["ID", "PREFIX", "USER", "NAME"]
    assert listed[1].split()[:4] == [key_id, prefix, "heidi", "ci"]
    assert listed[1].endswith(" -")  # not revoked
    revoked = hub(cli_dsn, "revoke-api-key", prefix)
    assert revoked.stdout == f"API key {key_id} ({prefix}, 'ci' of 'heidi') revoked\n"
    assert not hub(cli_dsn, "api-keys", "--user", "heidi").stdout.splitlines()[1].endswith(" -")
    unknown = hub(cli_dsn, "revoke-api-key", "999999")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("luna-hub: error: no API key with id or prefix '999999'")
    users = hub(cli_dsn, "users").stdout.splitlines()
    assert users[0].split() == ["NAME", "ROLE", "SITES", "PASSWORD", "DISABLED"]
    assert ["heidi", "admin", "*", "no", "no"] in [line.split() for line in users]


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
