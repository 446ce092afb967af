"""``luna-hub --help`` and ``luna-agent --help`` wall time: each CLI as it is (commands import what they need
when they run) against the same ``--help`` after importing every module the commands use, as the CLIs did
before issue 23.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from bench.report import Result

ROUNDS = 5
_EAGER = (
    "luna_hub.app",
    "luna_hub.agents.services",
    "luna_hub.audit.admin_log",
    "luna_hub.audit.services",
    "luna_hub.auth.services",
    "luna_hub.database",
    "luna_hub.demo",
    "luna_hub.documents.services",
    "luna_hub.ingest.services",
    "luna_hub.rag.deps",
    "luna_hub.recommend.evaluation",
)
_OURS = "import sys; from luna_hub.cli import main; sys.exit(main(['--help']))"
_EAGER_HELP = f"import {', '.join(_EAGER)}; {_OURS}"
_AGENT_EAGER = ("luna_agent.settings", "luna_agent.sync")
_AGENT = "import sys; from luna_agent.cli import main; sys.exit(main(['--help']))"
_AGENT_EAGER_HELP = f"import {', '.join(_AGENT_EAGER)}; {_AGENT}"


def _seconds(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def run() -> list[Result]:
    """Median of five fresh processes each, alternating so machine load hits both alike."""
    ours: list[float] = []
    eager: list[float] = []
    agent: list[float] = []
    agent_eager: list[float] = []
    for _ in range(ROUNDS):
        ours.append(_seconds(_OURS))
        eager.append(_seconds(_EAGER_HELP))
        agent.append(_seconds(_AGENT))
        agent_eager.append(_seconds(_AGENT_EAGER_HELP))
    return [
        _help_row(
            "hub cli",
            "luna-hub",
            ours,
            eager,
            "after importing the app, stores and services the commands use, as the CLI did before (issue 23)",
        ),
        _help_row(
            "agent cli",
            "luna-agent",
            agent,
            agent_eager,
            "after importing the settings and sync stages (structlog, httpx), as the CLI did before",
        ),
    ]


def _help_row(group: str, program: str, ours: list[float], eager: list[float], baseline: str) -> Result:
    """A row: the median ``--help`` wall time against the same help with ``baseline``'s imports done first."""
    return Result(
        group=group,
        name=f"{program} --help wall time",
        value=statistics.median(ours) * 1000,
        unit="ms",
        baseline=statistics.median(eager) * 1000,
        note=f"time, lower is better; fresh processes, median of {ROUNDS}; baseline: the same --help {baseline}",
    )
