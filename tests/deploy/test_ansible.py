"""The Ansible roles and playbooks, run for real against localhost (``-c local``) into scratch directories.

Lint runs offline with the production profile; the edge_agent role installs the agent from freshly
built wheels twice and the second run must change nothing; backup.yml backs up a real PostgreSQL
database and restore.yml restores it into a new one, which must hold every row. Systemd is not
running here, so the roles are told not to manage services; everything else is real.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml

from support.ansible import ANSIBLE, build_agent_wheels, play_recap, run_playbook, write_inventory
from support.databases import database_for_session
from support.sync import key_owner

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def test_ansible_lint_passes_the_production_profile_offline() -> None:
    result = subprocess.run(
        [str(BIN / "ansible-lint"), "--offline", "--profile", "production", "--nocolor"],
        cwd=ANSIBLE,
        env={**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_edge_agent_role_installs_the_agent_and_a_second_run_changes_nothing(tmp_path: Path, pg_admin_dsn: str) -> None:
    wheels = tmp_path / "dist"
    build_agent_wheels(wheels)
    root = tmp_path / "root"
    extra = {
        "edge_agent_root": str(root),
        "edge_agent_wheel_dir": str(wheels),
        "edge_agent_python": sys.executable,
        "edge_agent_create_user": False,
        "edge_agent_manage_service": False,
        "edge_agent_id": "muenster-1",
        "edge_agent_site_id": "muenster",
        "edge_agent_status_port": 8099,
        # registration with a hub: here the hub's CLI on this machine, on a database of the test's own
        "edge_agent_hub_url": "http://127.0.0.1:8080",
        "edge_agent_register_command": [str(BIN / "luna-hub"), "create-agent"],
    }
    inventory = write_inventory(tmp_path, "edge")
    with database_for_session(pg_admin_dsn, "luna_edge_role") as hub_dsn:
        hub_env = {"LUNA_DATABASE_URL": hub_dsn, "LUNA_DATA_DIR": str(tmp_path / "hub")}
        extra["edge_agent_register_environment"] = hub_env
        _run_the_edge_role_twice(extra, inventory, tmp_path)
        key = (root / "etc" / "luna" / "agent.key").read_text(encoding="utf-8").strip()
        assert (root / "etc" / "luna" / "agent.key").stat().st_mode & 0o777 == 0o600
        registered = _psql(
            hub_dsn,
            "SELECT agent_id || '@' || site_id || ':' || count(*) FROM agent_keys JOIN agents"
            " USING (agent_id) GROUP BY agent_id, site_id",
        )
        assert registered == "muenster-1@muenster:1", "registered once, on the first run only"
        verified = asyncio.run(key_owner(hub_dsn, key))
        assert verified == ("muenster-1", "muenster")

    agent = root / "opt" / "luna-agent" / "venv" / "bin" / "luna-agent"
    config = root / "etc" / "luna" / "agent.toml"
    checked = subprocess.run(
        [str(agent), "check-config", str(config)], capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = config.read_text(encoding="utf-8")
    assert 'agent_id = "muenster-1"' in text
    assert "port = 8099" in text
    assert f'key_file = "{root}/etc/luna/agent.key"' in text
    unit = (root / "etc" / "systemd" / "system" / "luna-agent.service").read_text(encoding="utf-8")
    assert f"ExecStart={agent} run" in unit
    assert f"LUNA_CONFIG={config}" in unit


def _run_the_edge_role_twice(extra: dict[str, object], inventory: Path, tmp_path: Path) -> None:
    first = run_playbook("site.yml", inventory, extra, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert play_recap(first)[1] > 0

    second = run_playbook("site.yml", inventory, extra, tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert play_recap(second)[1:] == (0, 0, 0), second.stdout


@pytest.fixture
def databases(pg_admin_dsn: str) -> Iterator[tuple[str, str]]:
    """A source database with data in it and the name of a target database that does not exist yet."""
    suffix = uuid.uuid4().hex[:8]
    source, target = (_dsn(pg_admin_dsn, f"luna_backup_{role}_{suffix}") for role in ("src", "dst"))
    _psql(pg_admin_dsn, f"CREATE DATABASE {_name(source)}")
    _psql(source, SOURCE_DATA)
    yield source, target
    for dsn in (source, target):
        _psql(pg_admin_dsn, f"DROP DATABASE IF EXISTS {_name(dsn)} WITH (FORCE)")


SOURCE_DATA = """
CREATE TABLE readings (meter_id text, metric text, ts timestamptz, value float8, reasons text[],
                       PRIMARY KEY (meter_id, metric, ts));
INSERT INTO readings
SELECT 'm' || (g % 7), 'power_w', '2026-03-29 00:00+00'::timestamptz + g * interval '1 minute',
       CASE WHEN g % 97 = 0 THEN NULL ELSE g * 0.25 END,
       CASE WHEN g % 13 = 0 THEN ARRAY['spike', 'outlier'] ELSE '{}' END
FROM generate_series(1, 20000) g;
CREATE SCHEMA market;
CREATE TABLE market.prices (market text, ts timestamptz, eur_mwh numeric(10, 2), meta jsonb);
INSERT INTO market.prices
SELECT 'DE-LU', '2026-01-01'::timestamptz + g * interval '15 minutes', (g % 400) - 100.5, jsonb_build_object('n', g)
FROM generate_series(1, 5000) g;
CREATE TABLE empty_table (id int);
"""


def _dsn(admin: str, name: str) -> str:
    return urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))


def _name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


def _psql(dsn: str, sql: str) -> str:
    result = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", dsn],
        input=sql,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip()


def _fingerprint(dsn: str) -> dict[str, str]:
    tables = ["public.readings", "market.prices", "public.empty_table"]
    return {
        table: _psql(
            dsn,
            f"SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t",  # noqa: S608 - fixed names
        )
        for table in tables
    }


def _hub_role_playbook(tmp_path: Path) -> Path:
    playbook = tmp_path / "hub-only.yml"
    roles = str(ANSIBLE / "roles" / "hub")
    playbook.write_text(
        yaml.safe_dump([{"name": "Hub role only", "hosts": "hub", "gather_facts": False, "roles": [{"role": roles}]}]),
        encoding="utf-8",
    )
    return playbook


def test_hub_role_renders_every_variable_the_compose_file_reads(tmp_path: Path) -> None:
    """The stack itself is not started (no Docker engine here): the role's files and .env are checked."""
    root = tmp_path / "root"
    # the real compose file, and small stand-ins for the source trees the role copies beside it
    # (copying the real trees file by file takes minutes and tests nothing about the role)
    source = tmp_path / "source"
    source.mkdir()
    (source / "compose.hub.yaml").write_bytes((ANSIBLE.parent / "compose.hub.yaml").read_bytes())
    for name in ("pyproject.toml", "uv.lock", ".python-version"):
        (source / name).write_text("", encoding="utf-8")
    for name in ("shared", "hub", "agent"):
        (source / name).mkdir()
        (source / name / "pyproject.toml").write_text("", encoding="utf-8")
    secrets = {
        "hub_postgres_password": "pg-secret-123456",
        "hub_qdrant_api_key": "qdrant-secret-123456",
        "hub_minio_root_password": "minio-secret-123456",
        "hub_jwt_secret": "f3a9c1d27b4e8a6f0c5d9e2b7a1f4c8d",
        "hub_metrics_token": "0b6e2d9f4a7c1e8b3d5f9a2c6e0b4d8f",
        "hub_tls_cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "hub_tls_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
    }
    extra = {"hub_root": str(root), "hub_source_dir": str(source), "hub_manage_stack": False, **secrets}
    result = run_playbook(str(_hub_role_playbook(tmp_path)), write_inventory(tmp_path, "hub"), extra, tmp_path)
    assert play_recap(result)[3] == 0, result.stdout
    rendered = (root / "opt/luna-hub/.env").read_text(encoding="utf-8")
    values = dict(line.split("=", 1) for line in rendered.splitlines() if line and not line.startswith("#"))
    compose = (ANSIBLE.parent / "compose.hub.yaml").read_text(encoding="utf-8")
    read = set(re.findall(r"(?<!\$)\$\{(\w+)", compose))
    assert read <= set(values), read - set(values)
    assert all(values[name] for name in read)
    assert values["QDRANT_API_KEY"] == secrets["hub_qdrant_api_key"]
    assert (root / "opt/luna-hub/compose.hub.yaml").is_file()
    stack = root / "opt/luna-hub"
    for variable, secret in (("JWT_SECRET_FILE", "hub_jwt_secret"), ("TLS_KEY_FILE", "hub_tls_key")):
        written = stack / values[variable]
        assert written.read_text(encoding="utf-8").strip() == secrets[secret].strip()
        assert written.stat().st_mode & 0o777 == 0o600
    assert secrets["hub_jwt_secret"] not in result.stdout  # no_log


def test_hub_role_refuses_to_run_without_its_secrets(tmp_path: Path) -> None:
    extra = {"hub_root": str(tmp_path / "root"), "hub_manage_stack": False, "hub_postgres_password": "pg-secret-123456"}
    result = run_playbook(str(_hub_role_playbook(tmp_path)), write_inventory(tmp_path, "hub"), extra, tmp_path)
    assert play_recap(result)[3] == 1
    assert "set hub_qdrant_api_key" in result.stdout
    assert not (tmp_path / "root").exists()


def test_hub_role_refuses_to_run_without_a_jwt_secret_and_certificate(tmp_path: Path) -> None:
    secrets = {
        name: f"{name}-123456" for name in ("hub_postgres_password", "hub_qdrant_api_key", "hub_minio_root_password")
    }
    extra = {"hub_root": str(tmp_path / "root"), "hub_manage_stack": False, **secrets, "hub_jwt_secret": "short"}
    result = run_playbook(str(_hub_role_playbook(tmp_path)), write_inventory(tmp_path, "hub"), extra, tmp_path)
    assert play_recap(result)[3] == 1
    assert "set hub_jwt_secret" in result.stdout
    assert not (tmp_path / "root").exists()


def _check_installed_tools(root: Path) -> None:
    """The timer's unit runs all three tools; each runs from where the role put it (minio in its venv)."""
    unit = (root / "etc/systemd/system/luna-backup.service").read_text(encoding="utf-8")
    exec_lines = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert len(exec_lines) == 3, unit
    assert "luna_vector_backup.py backup --url http://127.0.0.1:6333" in exec_lines[1]
    assert "luna_object_backup.py backup --endpoint 127.0.0.1:9000 --bucket luna-documents" in exec_lines[2]
    env_file = root / "etc/luna/backup.env"
    assert f"EnvironmentFile={env_file}" in unit
    assert env_file.stat().st_mode & 0o777 == 0o600
    # after every run, success or not, systemd reports the result to the hub (the key from the env file)
    (report,) = [line for line in unit.splitlines() if line.startswith("ExecStopPost=")]
    assert (
        "luna_backup_report.py --hub https://hub.example.org --job luna-backup --service-result ${SERVICE_RESULT}"
        in report
    )
    assert "LUNA_BACKUP_REPORT_KEY=luna_report_key" in env_file.read_text(encoding="utf-8").splitlines()
    tools = root / "usr/local/lib/luna-backup"
    python = root / "opt/luna-backup/venv/bin/python"
    tools_and_interpreters = (
        ("luna_vector_backup.py", sys.executable),
        ("luna_object_backup.py", str(python)),
        ("luna_backup_report.py", sys.executable),
    )
    for tool, interpreter in tools_and_interpreters:
        shown = subprocess.run([interpreter, str(tools / tool), "--help"], capture_output=True, text=True, check=False)
        assert shown.returncode == 0, shown.stderr


def test_backup_playbook_then_restore_playbook_bring_every_row_back(databases: tuple[str, str], tmp_path: Path) -> None:
    source, target = databases
    inventory = write_inventory(tmp_path, "hub")
    common = {"backup_root": str(tmp_path / "root"), "backup_manage_timer": False}

    reporting = {"backup_report_url": "https://hub.example.org", "backup_report_key": "luna_report_key"}
    made = run_playbook(
        "backup.yml", inventory, {**common, **reporting, "backup_dsn": source, "backup_keep": 2}, tmp_path
    )
    assert made.returncode == 0, made.stdout + made.stderr
    backups = sorted((tmp_path / "root" / "var" / "backups" / "luna").iterdir())
    assert len(backups) == 1
    manifest = json.loads((backups[0] / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["tables"] == {"market.prices": 5000, "public.empty_table": 0, "public.readings": 20000}

    _check_installed_tools(tmp_path / "root")

    expected = _fingerprint(source)
    _psql(source, "DELETE FROM readings WHERE meter_id = 'm3'")  # written after the backup: not in it

    restored = run_playbook(
        "restore.yml", inventory, {**common, "restore_backup": str(backups[0]), "restore_dsn": target}, tmp_path
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert _fingerprint(target) == expected
    assert _fingerprint(source) != expected


def test_restore_refuses_a_damaged_backup_and_creates_nothing(databases: tuple[str, str], tmp_path: Path) -> None:
    source, target = databases
    inventory = write_inventory(tmp_path, "hub")
    common = {"backup_root": str(tmp_path / "root"), "backup_manage_timer": False}
    made = run_playbook("backup.yml", inventory, {**common, "backup_dsn": source}, tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    (backup,) = (tmp_path / "root" / "var" / "backups" / "luna").iterdir()
    with (backup / "db.dump").open("r+b") as dump:
        dump.seek(100)
        dump.write(b"\xff\xff")

    restored = run_playbook(
        "restore.yml", inventory, {**common, "restore_backup": str(backup), "restore_dsn": target}, tmp_path
    )
    assert restored.returncode != 0
    assert "checksum mismatch" in restored.stdout + restored.stderr
    exists = _psql(_dsn(source, "postgres"), f"SELECT count(*) FROM pg_database WHERE datname = '{_name(target)}'")  # noqa: S608
    assert exists == "0"
