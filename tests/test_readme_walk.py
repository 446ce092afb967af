"""The README walks: its runnable shell blocks, in order, against a real ``make run``.

Convention (also for whoever edits the README):

- a fenced block whose info string is ``sh walk`` is run by this test, top to bottom, each command
  in turn; a plain ``sh`` block is illustrative (production hosts, other setups) and is not run;
- inside a walk block, a command whose line ends with ``# not run by the walk test`` is skipped
  (say why next to it); lines starting with ``#`` are comments; a trailing ``\\`` continues a command.

Each command runs with ``bash -c`` (no ``pipefail``: ``curl ... | head`` is fine in a terminal) from the
repository root, as a reader would after
``make run`` in another terminal, with the venv's ``bin`` on PATH. Only what differs between a
reader's machine and a test run is rewritten: the ports 8080/8090 (free ports here) and the admin
key file ``var/hub/admin.key`` (this run's data dir). Each command must exit 0 and no answer may be
a server error (``curl -s`` exits 0 on any HTTP status, so 5xx is checked in the output).

The system is ``make run`` itself (embedded PostgreSQL, ``--demo-data ../shared/data``), so the
test is skipped only when ``../shared/data`` is absent.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from support.processes import BIN, ManagedProcess, free_port
from support.services import MqttBroker

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SKIP_MARK = "# not run by the walk test"
_FENCE = re.compile(r"^```sh walk\s*$")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not DATA.is_dir(), reason=f"the demo data {DATA} is absent"),
]


def walk_commands(readme: str) -> list[str]:
    """The commands of the README's ``sh walk`` blocks, in order, continuations joined, skips left out."""
    commands: list[str] = []
    inside = False
    pending = ""
    for raw in readme.splitlines():
        if not inside:
            inside = bool(_FENCE.match(raw))
            continue
        if raw.startswith("```"):
            inside = False
            continue
        line = pending + raw.lstrip() if pending else raw
        pending = ""
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1].rstrip() + " "
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.endswith(SKIP_MARK):
            continue
        commands.append(stripped)
    return commands


def test_walk_commands_follow_the_convention() -> None:
    readme = (
        "```sh walk\n# a comment\ncurl a \\\n  -d b\nrm -rf / # not run by the walk test\n```\n```sh\nnot-this\n```\n"
    )
    assert walk_commands(readme) == ["curl a -d b"]


def _server_error(output: str) -> bool:
    return bool(re.search(r'"status":\s*5\d\d\b|Internal Server Error', output))


def test_the_readme_walks(service_dir: Path, mqtt_broker: MqttBroker) -> None:
    assert (mqtt_broker.host, mqtt_broker.port) == ("127.0.0.1", 1883), "the demo plug publishes to the default broker"
    commands = walk_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(commands) >= 20, commands
    hub_port, agent_port = free_port(), free_port()
    data_dir = service_dir / "var"
    key_file = data_dir / "admin.key"
    before = set(ROOT.iterdir())
    env = {
        "LUNA_DATA_DIR": str(data_dir),
        "LUNA_SERVER__PORT": str(hub_port),
        "LUNA_STATUS_API__PORT": str(agent_port),
        "LUNA_SYNC__HUB_URL": f"http://127.0.0.1:{hub_port}",
        "LUNA_SYNC__KEY_FILE": str(data_dir / "demo-agent.key"),
    }
    walk_env = {**os.environ, **env, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    started = time.monotonic()
    took: list[tuple[float, str]] = []
    try:
        with ManagedProcess(
            ["make", "--no-print-directory", "run"], log=service_dir / "run.log", cwd=ROOT, env=env
        ) as system:
            system.wait_ready(count=2, timeout=120)
            for command in commands:
                runnable = (
                    command.replace("127.0.0.1:8080", f"127.0.0.1:{hub_port}")
                    .replace("127.0.0.1:8090", f"127.0.0.1:{agent_port}")
                    .replace("var/hub/admin.key", str(key_file))
                )
                begun = time.monotonic()
                result = subprocess.run(
                    ["bash", "-c", runnable],
                    cwd=ROOT,
                    env=walk_env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                output = result.stdout + result.stderr
                took.append((round(time.monotonic() - begun, 1), command[:100]))
                assert result.returncode == 0, f"{command}\nexit {result.returncode}:\n{output[-3000:]}"
                assert not _server_error(output), f"{command}\nanswered a server error:\n{output[-3000:]}"
            system.interrupt()
    finally:
        for created in set(ROOT.iterdir()) - before:  # files the walk downloads into the working directory
            if created.is_file():
                created.unlink()
    slowest = sorted(took, reverse=True)[:5]
    assert time.monotonic() - started < 180, f"the walk should stay under three minutes; slowest steps: {slowest}"
