"""``luna-agent`` as a real process."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from support.processes import BIN, ManagedProcess


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"]])
def test_help_everywhere(args: list[str]) -> None:
    result = subprocess.run([str(BIN / "luna-agent"), *args], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert "usage: luna-agent" in result.stdout


def test_bad_environment_value_exits_2_naming_the_variable() -> None:
    result = subprocess.run(
        [str(BIN / "luna-agent"), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"LUNA_AGENT_ID": "has spaces", "PATH": "/usr/bin"},
    )
    assert result.returncode == 2
    assert "environment variable LUNA_AGENT_ID: key 'agent_id': Expected `str` matching regex" in result.stderr


def test_run_serves_status_and_stops_on_sigterm(tmp_path: Path) -> None:
    agent = ManagedProcess(
        [str(BIN / "luna-agent"), "run", "--port", "0"],
        log=tmp_path / "agent.log",
        env={"LUNA_AGENT_ID": "edge-9", "LUNA_SITE_ID": "site-9"},
    )
    url = agent.wait_ready()["luna-agent"]
    with urllib.request.urlopen(f"{url}/health", timeout=10) as response:  # noqa: S310 - loopback
        assert json.load(response)["agent_id"] == "edge-9"
    assert agent.interrupt(signal.SIGTERM) == 0
    assert "Traceback" not in agent.output()
