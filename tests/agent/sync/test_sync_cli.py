"""``luna-agent sync --once`` and the key-file start-up checks, as real processes (the hub side is in tests/system)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from luna_agent.buffer import ReadingBuffer
from luna_agent.sample import Sample
from support.processes import BIN, free_port


def config(tmp_path: Path, key_file: Path, *, sync: bool = True, port: int | None = None) -> Path:
    path = tmp_path / "agent.toml"
    text = f'data_dir = "{tmp_path}"\n'
    if sync:
        text += f'[sync]\nhub_url = "http://127.0.0.1:{port or free_port()}"\nkey_file = "{key_file}"\ntimeout_s = 2\n'
    path.write_text(text, encoding="utf-8")
    return path


def fill_buffer(tmp_path: Path, count: int) -> None:
    buffer = ReadingBuffer(tmp_path / "buffer.sqlite3")
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    buffer.append(
        [
            Sample(meter_id="m", metric="power_w", ts=t0 + timedelta(seconds=i), value=1.0, unit="W")
            for i in range(count)
        ]
    )
    buffer.close()


def luna_agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "luna-agent"), *args], capture_output=True, text=True, timeout=60, check=False)


def test_sync_help() -> None:
    result = luna_agent("sync", "--help")
    assert result.returncode == 0
    assert "--once" in result.stdout


def test_sync_once_with_the_hub_down_exits_1_and_keeps_the_backlog(tmp_path: Path) -> None:
    key_file = tmp_path / "agent.key"
    key_file.write_text("lak_x\n", encoding="utf-8")
    fill_buffer(tmp_path, 5)
    result = luna_agent("sync", "--once", "-c", str(config(tmp_path, key_file)))
    assert result.returncode == 1, result.stderr
    assert "0 reading(s) in 0 batch(es)" in result.stdout
    assert "backlog 5; state backoff" in result.stdout
    assert "last error: ConnectError" in result.stdout


def test_sync_once_without_a_key_file_says_so(tmp_path: Path) -> None:
    fill_buffer(tmp_path, 2)
    result = luna_agent("sync", "--once", "-c", str(config(tmp_path, tmp_path / "none.key")))
    assert result.returncode == 1
    assert "state waiting_for_key" in result.stdout
    assert f"{tmp_path / 'none.key'} does not exist" in result.stdout


def test_sync_once_without_a_sync_section_is_a_configuration_error(tmp_path: Path) -> None:
    result = luna_agent("sync", "--once", "-c", str(config(tmp_path, tmp_path / "k", sync=False)))
    assert result.returncode == 2
    assert "key 'sync': no [sync] section" in result.stderr


def test_sync_once_with_nothing_to_send_exits_0(tmp_path: Path) -> None:
    key_file = tmp_path / "agent.key"
    key_file.write_text("lak_x\n", encoding="utf-8")
    result = luna_agent("sync", "--once", "-c", str(config(tmp_path, key_file)))
    assert result.returncode == 0, result.stderr
    assert "backlog 0; state idle" in result.stdout


def test_run_with_an_empty_key_file_stops_at_start_naming_it(tmp_path: Path) -> None:
    key_file = tmp_path / "agent.key"
    key_file.write_text("\n", encoding="utf-8")
    result = luna_agent("run", "-c", str(config(tmp_path, key_file)), "--port", "0")
    assert result.returncode == 1
    assert f"luna-agent: error: {key_file}: the agent key file is empty" in result.stderr


def test_check_config_names_a_typo_and_a_bad_value_in_sync(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('[sync]\nhub_url = "http://h:8080"\nkey_file = "k"\nbatch_max_reading = 10\n', encoding="utf-8")
    result = luna_agent("check-config", str(path))
    assert result.returncode == 2
    assert f"{path}:4: key 'sync.batch_max_reading'" in result.stderr
    path.write_text('[sync]\nhub_url = "ftp://h"\nkey_file = "k"\n', encoding="utf-8")
    result = luna_agent("check-config", str(path))
    assert result.returncode == 2
    assert "key 'sync.hub_url'" in result.stderr
    path.write_text('[sync]\nhub_url = "http://h"\nkey_file = "k"\nbackoff_initial_s = 9\nbackoff_max_s = 2\n')
    result = luna_agent("check-config", str(path))
    assert result.returncode == 2
    assert "backoff_initial_s (9.0) exceeds backoff_max_s (2.0)" in result.stderr
    path.write_text('[sync]\nhub_url = "http://h:8080"\nkey_file = "k"\n', encoding="utf-8")
    result = luna_agent("check-config", str(path))
    assert result.returncode == 0
    assert "sync to http://h:8080" in result.stdout


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda _path: None, "cannot read CA file {path}: No such file or directory"),
        (lambda path: path.mkdir(), "cannot read CA file {path}: Is a directory"),
        (lambda path: path.write_text("not a certificate\n"), "{path} holds no PEM certificate"),
    ],
    ids=["missing", "unreadable", "not-pem"],
)
def test_run_with_a_bad_ca_file_stops_at_start_naming_it(
    tmp_path: Path, make: Callable[[Path], object], problem: str
) -> None:
    key_file = tmp_path / "agent.key"
    key_file.write_text("lak_x\n", encoding="utf-8")
    ca_file = tmp_path / "hub-ca.pem"
    make(ca_file)
    path = config(tmp_path, key_file)
    path.write_text(path.read_text(encoding="utf-8") + f'ca_file = "{ca_file}"\n', encoding="utf-8")
    result = luna_agent("run", "-c", str(path), "--port", "0")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # one line, no traceback, no status API started
    assert lines[0].startswith("luna-agent: configuration error: LUNA_SYNC__CA_FILE: key 'sync.ca_file': ")
    assert problem.format(path=ca_file) in lines[0]
