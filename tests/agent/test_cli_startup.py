"""``luna-agent --help`` (and each command's) answers without importing the stages, drivers or logging.

Checked by the modules a fresh interpreter holds after printing every help, not by a stopwatch
(the wall time is in BENCHMARKS.md, ``python -m bench hub_cli``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from luna_agent import cli

HEAVY = (
    "luna_agent.settings",
    "luna_agent.buffer",
    "luna_agent.sync",
    "luna_agent.api",
    "httpx",
    "pymodbus",
    "paho",
    "litestar",
    "structlog",
)

_PROBE = """
import contextlib, io, json, sys
from luna_agent.cli import main
helps = []
for argv in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main([*argv, "--help"])
    helps.append(out.getvalue())
print(json.dumps({"helps": helps, "modules": sorted(sys.modules)}))
"""


def _commands() -> list[list[str]]:
    """Every command path of the parser: [], ["run"], ["buffer", "stats"], ..."""
    found: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        found.append(path)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])

    walk(cli._parser(), [])
    return found


def test_every_help_answers_without_importing_heavy_modules() -> None:
    commands = _commands()
    assert ["run"] in commands
    assert ["buffer", "stats"] in commands
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(commands)], capture_output=True, text=True, timeout=120, check=True
    )
    answer = json.loads(result.stdout)
    for command, text in zip(commands, answer["helps"], strict=True):
        assert text.startswith(f"usage: luna-agent{''.join(' ' + part for part in command)}"), command
    loaded = set(answer["modules"])
    assert "luna_agent.cli" in loaded
    assert [name for name in HEAVY if name in loaded] == []
