"""Run the repository's playbooks against localhost (``-c local``), as the deploy tests do."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

__all__ = ["ANSIBLE", "build_agent_wheels", "play_recap", "run_playbook", "write_inventory"]

ANSIBLE = Path(__file__).resolve().parents[2] / "ansible"
_BIN = Path(sys.executable).parent
_RECAP = r"^{host}\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)"


def write_inventory(tmp_path: Path, group: str) -> Path:
    """Write an inventory with localhost, connected locally, as the only host of ``group``."""
    path = tmp_path / f"{group}.yml"
    host = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    path.write_text(yaml.safe_dump({"all": {"children": {group: {"hosts": {"localhost": host}}}}}), encoding="utf-8")
    return path


def run_playbook(
    name: str, inventory: Path, extra: dict[str, object], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``ansible/<name>`` (or a playbook path) with ``extra`` as extra variables."""
    extra_file = tmp_path / f"vars-{uuid.uuid4().hex[:6]}.json"
    extra_file.write_text(json.dumps(extra), encoding="utf-8")
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
    }
    return subprocess.run(
        [str(_BIN / "ansible-playbook"), "-i", str(inventory), "-e", f"@{extra_file}", str(ANSIBLE / name)],
        cwd=ANSIBLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def play_recap(result: subprocess.CompletedProcess[str], host: str = "localhost") -> tuple[int, int, int, int]:
    """Return the host's ok, changed, unreachable and failed counts from the play recap."""
    found = re.search(_RECAP.format(host=re.escape(host)), result.stdout, flags=re.MULTILINE)
    assert found, result.stdout + result.stderr
    ok, changed, unreachable, failed = map(int, found.groups())
    return ok, changed, unreachable, failed


def build_agent_wheels(out: Path) -> None:
    """Build the wheels of luna-shared and luna-agent into ``out``, as the edge_agent role installs them."""
    for package in ("luna-shared", "luna-agent"):
        subprocess.run(
            [str(_BIN / "uv"), "build", "--package", package, "--wheel", "--out-dir", str(out)],
            cwd=ANSIBLE.parent,
            capture_output=True,
            timeout=300,
            check=True,
        )
