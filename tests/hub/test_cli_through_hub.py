"""``luna-hub`` commands beside a serving hub go through its HTTP API (real ``luna-hub serve`` processes).

The hub holds its data dir's lock while it serves, so a command that opened the stores itself
would refuse (or, for ``documents add``, could not open the vector store): each command below
succeeding beside it, with the hub's log showing the request, is the proof it went over HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from luna_hub.datadir import RUNTIME_FILE, LiveHub, hold_data_dir, live_hub, write_runtime_file
from support.processes import BIN, ManagedProcess, free_port, run_program

pytestmark = pytest.mark.slow


def luna_hub(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_program("luna-hub", *args, env=env, stdin=stdin)


def status_of(url: str, credential: str) -> int:
    """The HTTP status of ``GET url`` sent with ``Authorization: Bearer credential``."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {credential}"})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_commands_beside_a_serving_hub_use_its_api_with_the_local_token(
    tmp_path: Path, hub_dsn: str, unique: str
) -> None:
    data_dir = tmp_path / "hub"
    env = {**os.environ, "LUNA_DATA_DIR": str(data_dir), "LUNA_DATABASE_URL": hub_dsn}
    runtime = data_dir / RUNTIME_FILE
    with ManagedProcess(
        [str(BIN / "luna-hub"), "serve", "--port", str(free_port())], log=tmp_path / "serve.log", env=env
    ) as hub:
        url = hub.wait_ready(timeout=120)["luna-hub"]
        assert stat.S_IMODE(runtime.stat().st_mode) == 0o600
        written = json.loads(runtime.read_text(encoding="utf-8"))
        assert (written["url"], written["pid"]) == (url, hub.process.pid)
        token = written["token"]
        assert token.startswith("llt_")
        assert status_of(f"{url}/admin/users", token) == 200
        assert status_of(f"{url}/admin/users", token[:-4] + "AAAA") == 401  # a wrong local token
        assert status_of(f"{url}/admin/users", "llt_") == 401

        documents_and_loads(tmp_path, env, unique)
        through_hub = keys_and_agents(tmp_path, env, url, unique)
        log = hub.output()
        assert "document uploaded" in log
        assert "file loaded" in log
        assert token not in log
        assert hub.interrupt(signal.SIGINT) == 0
    assert not runtime.exists()  # removed at a clean stop
    # Without the hub the same command opens the database itself, and prints the same.
    assert ok(luna_hub("api-keys", "--user", f"u-{unique}", env=env)) == through_hub
    for logged in (data_dir / "logs").rglob("*.jsonl"):
        assert token not in logged.read_text(encoding="utf-8")


def documents_and_loads(tmp_path: Path, env: dict[str, str], unique: str) -> None:
    """Add, list and load through the hub: the offline path would refuse beside it (the data dir is held)."""
    note = tmp_path / "note.md"
    note.write_text(f"# Tarif {unique}\n\n32 Cent je Kilowattstunde.\n", encoding="utf-8")
    readings = tmp_path / "readings.csv"
    readings.write_text(f"meter_id,metric,ts,value\n{unique}-m,power_w,2024-06-01T12:00:00Z,1500\n", encoding="utf-8")
    added = ok(luna_hub("documents", "add", str(note), env=env))
    (document_id,) = (line.split(": ")[1].split()[0] for line in added.splitlines())
    assert added == f"{note}: {document_id} version 1: 1 chunks (1 new)\n"
    assert ok(luna_hub("documents", "add", str(note), env=env)) == (
        f"{note}: already stored as {document_id} version 1\n"
    )
    waited = luna_hub("documents", "wait", document_id, env=env)
    assert waited.returncode == 0, waited.stderr
    assert waited.stderr.strip() == "documents indexed"
    absent = luna_hub("documents", "wait", f"absent-{unique}", "--timeout", "1", env=env)
    assert absent.returncode == 1
    assert absent.stderr.endswith(f"still not indexed after 1 s: absent-{unique}: no document absent-{unique}\n")
    listed = ok(luna_hub("documents", "list", env=env)).splitlines()
    assert listed[0].split() == ["ID", "VERSION", "JOB", "CHUNKS", "SITE", "UPDATED", "FILE"]
    assert [line.split()[:4] for line in listed if line.startswith(document_id)] == [[document_id, "1", "done", "1"]]

    assert ok(luna_hub("load", str(readings), env=env)).startswith(f"{readings}: 1 stored, 0 already there,")
    assert ok(luna_hub("load", str(readings), env=env)).startswith(f"{readings}: 0 stored, 1 already there,")
    missing = luna_hub("load", str(tmp_path / "absent.csv"), env=env)
    assert (missing.returncode, missing.stderr) == (
        1,
        f"luna-hub: {tmp_path / 'absent.csv'}: No such file or directory\n",
    )


def keys_and_agents(tmp_path: Path, env: dict[str, str], url: str, unique: str) -> str:
    """Create a user, a key (it works), list and revoke it (it stops working), create an agent; return the list."""
    user, agent, key_file = f"u-{unique}", f"a-{unique}", tmp_path / "agent.key"
    ok(luna_hub("create-user", user, "--role", "analyst", env=env))
    created = ok(luna_hub("create-api-key", user, "--name", "laptop", "--expires-in", "12h", env=env)).splitlines()
    assert created[0].startswith("API key ")
    assert f"'laptop' for '{user}', expires " in created[0]
    key = created[1]
    assert status_of(f"{url}/auth/me", key) == 200
    keys = ok(luna_hub("api-keys", "--user", user, env=env)).splitlines()
    (row,) = keys[1:]
    key_id, prefix = row.split()[:2]
    revoked = ok(luna_hub("revoke-api-key", prefix, env=env))
    assert revoked == f"API key {key_id} ({prefix}, 'laptop' of '{user}') revoked\n"
    assert status_of(f"{url}/auth/me", key) == 401
    unknown = luna_hub("revoke-api-key", "no-such-key", env=env)
    assert (unknown.returncode, unknown.stderr) == (
        1,
        "luna-hub: error: no API key with id or prefix 'no-such-key' (luna-hub api-keys lists them)\n",
    )
    through_hub = ok(luna_hub("api-keys", "--user", user, env=env))

    made = ok(luna_hub("create-agent", agent, "--site", f"s-{unique}", "--key-file", str(key_file), env=env))
    assert made == f"agent '{agent}' at site 's-{unique}'; key written to {key_file}\n"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    return through_hub


def test_a_runtime_file_left_by_a_dead_hub_is_ignored(tmp_path: Path, hub_dsn: str, unique: str) -> None:
    data_dir = tmp_path / "hub"
    data_dir.mkdir()
    dead = subprocess.Popen(["true"])  # a process that has ended: its pid names nothing
    dead.wait()
    write_runtime_file(data_dir, LiveHub(url=f"http://127.0.0.1:{free_port()}", pid=dead.pid, token="llt_stale"))  # noqa: S106 - no secret
    assert live_hub(data_dir) is None
    env = {**os.environ, "LUNA_DATA_DIR": str(data_dir), "LUNA_DATABASE_URL": hub_dsn}
    listed = ok(luna_hub("api-keys", "--user", f"nobody-{unique}", env=env))
    documents = ok(luna_hub("documents", "list", "--limit", "5", env=env)).splitlines()
    assert documents[0].split() == ["ID", "VERSION", "JOB", "CHUNKS", "SITE", "UPDATED", "FILE"]
    alone = luna_hub("documents", "wait", env=env)
    assert (alone.returncode, alone.stderr) == (1, f"luna-hub: no hub serves on {data_dir}: no document job runs\n")
    assert listed.split() == ["ID", "PREFIX", "USER", "NAME", "CREATED", "EXPIRES", "LAST", "USED", "REVOKED"]


def test_a_runtime_file_counts_only_while_its_process_lives_and_holds_the_data_dir(tmp_path: Path) -> None:
    here = LiveHub(url="http://127.0.0.1:1", pid=os.getpid(), token="llt_x")  # noqa: S106 - no secret
    write_runtime_file(tmp_path, here)
    assert stat.S_IMODE((tmp_path / RUNTIME_FILE).stat().st_mode) == 0o600
    assert live_hub(tmp_path) is None  # a live pid (a reused one, after a reboot) that holds no lock
    with hold_data_dir(tmp_path, "serve", busy_hint="-"):
        assert live_hub(tmp_path) == here
    (tmp_path / RUNTIME_FILE).write_text("{not json", encoding="utf-8")
    assert live_hub(tmp_path) is None
