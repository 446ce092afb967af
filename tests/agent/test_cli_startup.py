"""``luna-agent --help`` (and each command's) answers without importing the stages, drivers or logging.

Checked by the modules a fresh interpreter holds after printing every help, not by a stopwatch
(the wall time is in BENCHMARKS.md, ``python -m bench hub_cli``).
"""

from __future__ import annotations

from luna_agent import cli
from support.cli_help import assert_helps_import_none_of

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


def test_every_help_answers_without_importing_heavy_modules() -> None:
    commands = assert_helps_import_none_of(cli, "luna-agent", HEAVY)
    assert ["run"] in commands
    assert ["buffer", "stats"] in commands
