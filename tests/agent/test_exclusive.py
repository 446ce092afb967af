"""One agent per data dir and per status port, refused in one line; demo agents keep their own MQTT sessions.

Real ``luna-agent run`` processes throughout (and the real Mosquitto for the MQTT case).
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

from luna_agent.exclusive import LOCK_FILE
from support.processes import BIN, ManagedProcess, free_port
from support.services import MqttBroker

EXAMPLES = Path(__file__).resolve().parents[2] / "agent" / "examples"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text('[[simulators]]\nname = "s"\nprofile = "sdm630"\n', encoding="utf-8")
    return path


def _run(config: Path, data_dir: Path, port: int, log: Path) -> ManagedProcess:
    return ManagedProcess(
        [str(BIN / "luna-agent"), "run", "-c", str(config), "--port", str(port)],
        log=log,
        env={"LUNA_DATA_DIR": str(data_dir)},
        cwd=log.parent,
    )


def _second(config: Path, data_dir: Path, port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "luna-agent"), "run", "-c", str(config), "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"LUNA_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
    )


def test_a_second_agent_on_the_same_data_dir_or_port_refuses_in_one_line(tmp_path: Path) -> None:
    config, data_dir, port = _config(tmp_path), tmp_path / "data", free_port()
    with _run(config, data_dir, port, tmp_path / "first.log") as first:
        first.wait_ready()
        pid = first.process.pid
        same_dir = _second(config, data_dir, free_port())
        same_port = _second(config, tmp_path / "other", port)
        assert first.interrupt() == 0
    assert same_dir.returncode == 1
    assert same_dir.stdout == ""
    assert same_dir.stderr.splitlines() == [
        (
            f"luna-agent: error: {data_dir} is in use by another luna-agent (pid {pid}, lock {data_dir / LOCK_FILE}); "
            "stop that one, or give this one its own data_dir (LUNA_DATA_DIR)"
        )
    ]
    assert same_port.returncode == 1
    assert same_port.stderr.splitlines() == [
        (
            f"luna-agent: error: status API port 127.0.0.1:{port} is taken (another luna-agent?); "
            "choose another with --port or status_api.port"
        )
    ]
    assert not (tmp_path / "other" / "buffer.sqlite3").exists()  # refused before opening anything


def test_the_lock_goes_with_the_process_even_after_kill_9(tmp_path: Path) -> None:
    config, data_dir = _config(tmp_path), tmp_path / "data"
    with _run(config, data_dir, free_port(), tmp_path / "first.log") as first:
        first.wait_ready()
        first.kill()
    assert (data_dir / LOCK_FILE).exists()  # the file stays; the kernel dropped the lock
    with _run(config, data_dir, free_port(), tmp_path / "second.log") as second:
        second.wait_ready()
        assert second.interrupt() == 0


def _status(url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}/status", timeout=10) as response:  # noqa: S310 - loopback
        status: dict[str, object] = json.load(response)
    return status


def test_two_demo_agents_with_their_own_data_dirs_keep_their_own_mqtt_sessions(
    tmp_path: Path, mqtt_broker: MqttBroker
) -> None:
    """The demo config as shipped: before, both used client id luna-demo-agent and took turns on the broker."""
    assert (mqtt_broker.host, mqtt_broker.port) == ("127.0.0.1", 1883), "the demo config names the default broker"
    agents = []
    try:
        for name in ("a", "b"):
            folder = tmp_path / name
            folder.mkdir()
            agents.append(_run(EXAMPLES / "demo.toml", folder / "var", free_port(), folder / "agent.log"))
        urls = [agent.wait_ready()["luna-agent"] for agent in agents]
        deadline = time.monotonic() + 30
        while not all(_status(url)["mqtt"]["connected"] for url in urls):  # type: ignore[index]
            assert time.monotonic() < deadline, [agent.output()[-2000:] for agent in agents]
            time.sleep(0.2)
        time.sleep(4)  # a taken-over session reconnects within 1 s and would log "MQTT connected" again
        for agent in agents:
            assert agent.output().count("MQTT connected") == 1, agent.output()[-3000:]
            assert agent.interrupt() == 0
    finally:
        for agent in agents:
            agent.close()
