"""Every ``--help`` of a command-line program, printed in a fresh interpreter: usage lines, and no heavy import.

Judged by the modules that interpreter holds after printing every help, not by a stopwatch.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["assert_helps_import_none_of"]

_PROBE = """
import contextlib, importlib, io, json, sys
main = importlib.import_module(sys.argv[1]).main
helps = []
for argv in json.loads(sys.argv[2]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main([*argv, "--help"])
    helps.append(out.getvalue())
print(json.dumps({"helps": helps, "modules": sorted(sys.modules)}))
"""


def _command_paths(parser: argparse.ArgumentParser) -> list[list[str]]:
    """Every command path of ``parser``: [], ["run"], ["buffer", "stats"], ..."""
    found: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        found.append(path)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])

    walk(parser, [])
    return found


def assert_helps_import_none_of(cli: ModuleType, program: str, heavy: Sequence[str]) -> list[list[str]]:
    """Print every command's help of ``cli`` (its ``main`` and ``_parser``) in a fresh interpreter.

    Asserts that each help starts with its ``usage: {program} ...`` line and that none of ``heavy``
    was imported. Returns the command paths checked.
    """
    commands = _command_paths(cli._parser())
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, cli.__name__, json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answer = json.loads(result.stdout)
    for command, text in zip(commands, answer["helps"], strict=True):
        assert text.startswith(f"usage: {program}{''.join(' ' + part for part in command)}"), (command, text)
    loaded = set(answer["modules"])
    assert cli.__name__ in loaded, f"the probe did not load {cli.__name__}"
    imported = [name for name in heavy if name in loaded]
    assert imported == [], f"--help imported {imported}"
    return commands
