"""``luna-hub --help`` (and each command's) answers without importing the app, the stores or the drivers.

Checked by the modules a fresh interpreter holds after printing every help, not by a stopwatch
(the wall time is in BENCHMARKS.md, ``python -m bench hub_cli``).
"""

from __future__ import annotations

from luna_hub import cli
from luna_hub.auth.services import ROLES
from support.cli_help import assert_helps_import_none_of

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


def test_every_help_answers_without_importing_heavy_modules() -> None:
    commands = assert_helps_import_none_of(cli, "luna-hub", HEAVY)
    assert ["documents", "add"] in commands
    assert ["recommend", "evaluate"] in commands


def test_role_choices_match_the_auth_service() -> None:
    assert cli.ROLES == ROLES
