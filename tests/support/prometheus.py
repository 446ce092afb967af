"""Debian's ``prometheus`` and ``promtool`` for the tests: found on PATH, or the test is skipped (failed under CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["prometheus_binary", "promtool", "run_promtool"]


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (apt-get install prometheus; .ci/run installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def promtool() -> str:
    """The ``promtool`` binary."""
    return _binary("promtool")


def prometheus_binary() -> str:
    """The ``prometheus`` server binary."""
    return _binary("prometheus")


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``promtool ARGS`` and return its result (not checked)."""
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False)
