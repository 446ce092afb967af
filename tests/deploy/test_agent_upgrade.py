"""upgrade-agents.yml for real: two edge "hosts" (localhost twice, each in its own scratch root), batches
of one, a health gate against a running agent's status API, and rollback.

Wheels of the agent are built in the test: the current version, and the same code as the next version
(built from a copy with the version raised). Systemd is not running here, so the role does not restart
the service: the gate therefore sees the process that was already running, which is how a failed
restart looks, and must roll the host back. The successful path through a real restart is not run here.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from support.ansible import build_agent_wheels, play_recap, run_playbook

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CURRENT = "0.1.0"
NEXT = "0.1.1"
HOSTS = ("edge-a", "edge-b")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _build_wheels(out: Path, tmp_path: Path) -> None:
    build_agent_wheels(out)
    copy = tmp_path / "agent-next"
    shutil.copytree(ROOT / "agent", copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pyproject = copy / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    assert f'version = "{CURRENT}"' in text
    pyproject.write_text(text.replace(f'version = "{CURRENT}"', f'version = "{NEXT}"', 1), encoding="utf-8")
    subprocess.run(
        [str(BIN / "uv"), "build", "--no-sources", "--wheel", "--out-dir", str(out), str(copy)],
        capture_output=True,
        timeout=300,
        check=True,
    )


def _installed(root: Path, venv: str = "venv") -> str:
    python = root / "opt" / "luna-agent" / venv / "bin" / "python"
    script = "import importlib.metadata as m; print(m.version('luna-agent'))"
    return subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object], dict[str, Path]]:
    """Two agents at CURRENT, and an inventory where each host has its own root and status port.

    Shared by the tests of this module (installing takes minutes): each leaves both hosts at CURRENT.
    """
    tmp_path = tmp_path_factory.mktemp("fleet")
    wheels = tmp_path / "dist"
    _build_wheels(wheels, tmp_path)
    roots = {host: tmp_path / host for host in HOSTS}
    hosts = {
        host: {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "edge_agent_root": str(roots[host]),
            "edge_agent_id": host,
            "edge_agent_status_port": _free_port(),
        }
        for host in HOSTS
    }
    inventory = tmp_path / "fleet.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"edge": {"hosts": hosts}}}}), encoding="utf-8")
    common: dict[str, object] = {
        "edge_agent_wheel_dir": str(wheels),
        "edge_agent_python": sys.executable,
        "edge_agent_create_user": False,
        "edge_agent_manage_service": False,
        "edge_agent_site_id": "muenster",
        "edge_agent_version": CURRENT,
    }
    installed = run_playbook("site.yml", inventory, common, tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert all(_installed(root) == CURRENT for root in roots.values())
    return inventory, common, roots


def _start_agent(root: Path) -> subprocess.Popen[bytes]:
    """The agent as the service would run it, from its venv with its rendered configuration."""
    config = root / "etc" / "luna" / "agent.toml"
    agent = subprocess.Popen(
        [str(root / "opt" / "luna-agent" / "venv" / "bin" / "luna-agent"), "run", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port = next(line for line in config.read_text(encoding="utf-8").splitlines() if line.startswith("port = "))
    url = f"http://127.0.0.1:{port.split(' = ')[1]}/health"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                assert json.loads(response.read())["version"] == CURRENT
                return agent
        except OSError:
            assert agent.poll() is None, "the agent exited"
            assert time.monotonic() < deadline, "the agent's status API did not come up within 60 s"
            time.sleep(0.2)


def test_an_agent_failing_the_health_gate_is_rolled_back_and_the_next_batch_is_not_started(
    fleet: tuple[Path, dict[str, object], dict[str, Path]], tmp_path: Path
) -> None:
    inventory, common, roots = fleet
    first, second = (roots[host] for host in HOSTS)
    running = _start_agent(first)
    try:
        extra = {**common, "edge_agent_version": NEXT, "upgrade_batches": [1], "edge_agent_gate_retries": 2}
        extra["edge_agent_gate_delay"] = 1
        result = run_playbook("upgrade-agents.yml", inventory, extra, tmp_path)
    finally:
        running.terminate()
        running.wait(timeout=30)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"the upgrade to {NEXT} failed on edge-a (Health gate, the process answers with the new version)" in output
    assert f"rolled back to {CURRENT}" in output
    # the new version had been installed, then set aside; the previous one is back in place
    assert _installed(first) == CURRENT
    failed = first / "opt" / "luna-agent" / "venv.failed" / "bin" / "python"
    script = "import importlib.metadata as m; print(m.version('luna-agent'))"
    assert (
        subprocess.run([str(failed), "-c", script], capture_output=True, text=True, check=True).stdout.strip() == NEXT
    )
    agent = first / "opt" / "luna-agent" / "venv" / "bin" / "luna-agent"
    config = first / "etc" / "luna" / "agent.toml"
    assert subprocess.run([str(agent), "check-config", str(config)], capture_output=True, check=False).returncode == 0
    # serial batches with max_fail_percentage 0: the second host was never touched
    assert "edge-b" not in output.split("PLAY RECAP")[0]
    assert _installed(second) == CURRENT
    assert not (second / "opt" / "luna-agent" / "venv.previous").exists()


def test_an_install_that_fails_rolls_back_and_hosts_on_the_version_are_left_alone(
    fleet: tuple[Path, dict[str, object], dict[str, Path]], tmp_path: Path
) -> None:
    inventory, common, roots = fleet
    missing = run_playbook(
        "upgrade-agents.yml", inventory, {**common, "edge_agent_version": "9.9.9", "upgrade_batches": [1]}, tmp_path
    )
    assert missing.returncode != 0
    assert "the upgrade to 9.9.9 failed on edge-a (Install the agent into its venv)" in missing.stdout
    assert _installed(roots["edge-a"]) == CURRENT

    unchanged = run_playbook("upgrade-agents.yml", inventory, {**common, "upgrade_batches": [1]}, tmp_path)
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    for host in HOSTS:  # both already run the version: nothing installed, nothing changed
        assert play_recap(unchanged, host)[1:] == (0, 0, 0), unchanged.stdout
