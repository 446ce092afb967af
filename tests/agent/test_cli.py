"""``luna-agent`` as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from luna_agent.buffer import ReadingBuffer
from support.processes import BIN, ManagedProcess, free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "agent" / "examples"


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
        env={"LUNA_AGENT_ID": "edge-9", "LUNA_SITE_ID": "site-9", "LUNA_DATA_DIR": str(tmp_path)},
    )
    url = agent.wait_ready()["luna-agent"]
    with urllib.request.urlopen(f"{url}/health", timeout=10) as response:  # noqa: S310 - loopback
        assert json.load(response)["agent_id"] == "edge-9"
    assert agent.interrupt(signal.SIGTERM) == 0
    assert "Traceback" not in agent.output()


def _agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "luna-agent"), *args], capture_output=True, text=True, timeout=60, check=False, env=dict(os.environ)
    )


def test_check_config_accepts_the_shipped_examples() -> None:
    for example in ("agent.toml", "demo.toml"):
        result = _agent("check-config", str(EXAMPLES / example))
        assert result.returncode == 0, result.stderr
        assert f"{example}: OK" in result.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[devices]]\nid = "a"\nprofle = "sdm630"\nhost = "h"\n',
            ":3: key 'devices[0].profle': Object contains unknown",
        ),
        (
            (
                '[[devices]]\nid = "a"\nprofile = "sdm630"\nhost = "h"\n\n'
                '[[devices]]\nid = "b"\nprofile = "sdm999"\nhost = "h"\n'
            ),
            ":6: key 'devices[1]': unknown profile 'sdm999'",
        ),
        ('[[devices]]\nid = "a"\nprofile = "sdm630"\n', "needs exactly one of host, serial_port or simulator"),
        ("[buffer]\nsynchronous = 'sometimes'\n", ":2: key 'buffer.synchronous': Invalid enum value 'sometimes'"),
        ("[buffer\n", "not valid TOML"),
    ],
)
def test_check_config_names_file_line_key_and_reason(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(text, encoding="utf-8")
    result = _agent("check-config", str(config))
    assert result.returncode == 2
    assert f"configuration error: {config}" in result.stderr
    assert expected in result.stderr


def test_simulate_then_probe_finds_the_profile_and_word_order(tmp_path: Path) -> None:
    port = free_port()
    simulator = ManagedProcess(
        [str(BIN / "luna-agent"), "simulate", "--profile", "em24_e1", "--port", str(port), "--unit", "3"],
        log=tmp_path / "sim.log",
    )
    try:
        deadline = time.monotonic() + 30
        while "simulating em24_e1" not in simulator.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        result = _agent("probe", f"127.0.0.1:{port}", "--unit", "3")
    finally:
        assert simulator.interrupt() == 0
    assert result.returncode == 0, result.stdout + result.stderr
    assert "profile=em24_e1 order=CDAB shift=+0" in result.stdout
    assert "profile=em24_e1 order=ABCD" not in result.stdout  # the wrong word order is not plausible


def test_probe_of_nothing_says_so() -> None:
    result = _agent("probe", f"127.0.0.1:{free_port()}", "--timeout", "0.2")
    assert result.returncode == 1
    assert "no shipped profile gives plausible values" in result.stdout


_BURST_CONFIG = """
[buffer]
synchronous = "full"
{simulators}
{devices}
"""


@pytest.mark.slow
def test_kill_9_of_a_polling_agent_keeps_every_committed_reading_once(tmp_path: Path) -> None:
    simulators = "\n".join(f'[[simulators]]\nname = "s{i}"\nprofile = "sdm630"\n' for i in range(4))
    devices = "\n".join(
        f'[[devices]]\nid = "m{i}"\nprofile = "sdm630"\nsimulator = "s{i}"\ninterval_s = 0.2\n' for i in range(4)
    )
    config = tmp_path / "burst.toml"
    config.write_text(_BURST_CONFIG.format(simulators=simulators, devices=devices), encoding="utf-8")
    agent = ManagedProcess(
        [str(BIN / "luna-agent"), "run", "-c", str(config), "--port", "0"],
        log=tmp_path / "agent.log",
        env={"LUNA_DATA_DIR": str(tmp_path / "data")},
    )
    url = agent.wait_ready()["luna-agent"]
    deadline = time.monotonic() + 60
    depth = 0
    while depth < 1000 and time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/status", timeout=10) as response:  # noqa: S310 - loopback
            depth = json.load(response)["buffer"]["depth"]
        time.sleep(0.1)
    agent.kill()  # SIGKILL to the process group, mid-burst
    agent.process.wait(timeout=30)
    agent._handle.close()

    buffer = ReadingBuffer(tmp_path / "data" / "buffer.sqlite3")
    stored = buffer.read(0, 10**9)
    buffer.close()
    seqs = [r.seq for r in stored]
    assert len(seqs) >= depth  # everything the status reported as stored is still there
    assert seqs == list(range(len(seqs)))  # gap-free, in order, nothing duplicated
    per_poll = {(r.meter_id, r.ts) for r in stored}
    assert len(stored) == 58 * len(per_poll)  # a poll is one transaction: all its readings or none
