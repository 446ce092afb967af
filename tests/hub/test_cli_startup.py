"""``luna-hub --help`` (and each command's) answers without importing the app, the stores or the drivers.

Checked by the modules a fresh interpreter holds after printing every help, not by a stopwatch
(the wall time is in BENCHMARKS.md, ``python -m bench hub_cli``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from luna_hub import cli
from luna_hub.auth.services import ROLES

HEAVY = (
    "luna_hub.app",
    "luna_hub.database",
    "luna_hub.documents",
    "luna_hub.rag",
    "qdrant_client",
    "asyncpg",
    "litestar",
    "numpy",
    "structlog",
)

_PROBE = """
import contextlib, io, json, sys
from luna_hub.cli import main
helps = []
for argv in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main([*argv, "--help"])
    helps.append(out.getvalue())
print(json.dumps({"helps": helps, "modules": sorted(sys.modules)}))
"""


def _commands() -> list[list[str]]:
    """Every command path of the parser: [], ["serve"], ["documents", "add"], ..."""
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
    assert ["documents", "add"] in commands
    assert ["recommend", "evaluate"] in commands
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(commands)], capture_output=True, text=True, timeout=120, check=True
    )
    answer = json.loads(result.stdout)
    for command, text in zip(commands, answer["helps"], strict=True):
        assert text.startswith(f"usage: luna-hub{''.join(' ' + part for part in command)}"), command
    loaded = set(answer["modules"])
    assert "luna_hub.cli" in loaded
    assert [name for name in HEAVY if name in loaded] == []


def test_role_choices_match_the_auth_service() -> None:
    assert cli.ROLES == ROLES
