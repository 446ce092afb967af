"""The whole sync path as real processes: ``luna-hub serve`` on the test PostgreSQL and ``luna-agent run``.

The agent polls a simulated SDM630 that it serves itself over Modbus TCP (``[[simulators]]``) and
uploads to the hub over loopback HTTP. Helpers read what each side holds at the end: the agent's
SQLite buffer and the hub's readings table, as comparable sets.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from luna_agent.buffer import ReadingBuffer
from luna_agent.sample import Sample
from support.processes import BIN, ManagedProcess, free_port
from support.sync import fetch

__all__ = [
    "AgentRun",
    "HubRun",
    "Row",
    "SiteAgent",
    "assert_exactly_once",
    "buffer_rows",
    "hub_rows",
    "ledger_gaps",
    "prefill",
    "stored_count",
    "sync_once",
]

Row = tuple[int, str, str, datetime, float | None]
"""(seq, meter, metric, ts, value): what must arrive exactly once."""
_QUIET: Final = {"LUNA_LOG__LEVEL": "WARNING", "LUNA_AUTH__REQUIRED": "false"}  # loopback: /agents without a key


class HubRun:
    """``luna-hub serve`` on ``dsn``, on a port fixed up front so it can be down, come up, and restart."""

    def __init__(self, dsn: str, folder: Path, env: dict[str, str] | None = None) -> None:
        self.dsn = dsn
        self.folder = folder
        self.extra_env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: ManagedProcess | None = None
        self.starts = 0

    def _env(self) -> dict[str, str]:
        return {"LUNA_DATABASE_URL": self.dsn, "LUNA_DATA_DIR": str(self.folder), **_QUIET, **self.extra_env}

    def create_agent(self, agent_id: str, site_id: str, key_file: Path) -> None:
        """Provision the agent with ``luna-hub create-agent --key-file`` (works while the server is down)."""
        result = subprocess.run(
            [str(BIN / "luna-hub"), "create-agent", agent_id, "--site", site_id, "--key-file", str(key_file)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **self._env()},
            check=False,
        )
        assert result.returncode == 0, result.stderr

    def start(self) -> None:
        """Start the server and wait until it says it is ready."""
        self.starts += 1
        self.process = ManagedProcess(
            [str(BIN / "luna-hub"), "serve", "--port", str(self.port)],
            log=self.folder / f"hub-{self.starts}.log",
            env=self._env(),
        )
        assert self.process.wait_ready()["luna-hub"] == self.url

    def stop(self) -> None:
        """Stop it as Ctrl-C does (when still running), and close its log."""
        if self.process is not None:
            if self.process.process.poll() is None:
                self.process.interrupt()
            self.process.close()
        self.process = None

    def kill(self) -> None:
        """``kill -9`` the server's process group, whatever it is doing."""
        if self.process is not None:
            self.process.kill()
        self.process = None

    def get(self, path: str) -> Any:
        """``GET path`` as JSON."""
        with urllib.request.urlopen(self.url + path, timeout=10) as response:  # noqa: S310 - loopback
            return json.load(response)


@dataclass(frozen=True)
class SiteAgent:
    """One agent's identity, files and the meter it polls (unique per test: the database is shared)."""

    agent_id: str
    site_id: str
    meter: str
    folder: Path

    @classmethod
    def new(cls, folder: Path) -> SiteAgent:
        """Fresh names in ``folder``."""
        tag = uuid.uuid4().hex[:10]
        return cls(f"agent-{tag}", f"site-{tag}", f"meter-{tag}", folder)

    @property
    def key_file(self) -> Path:
        """Where the hub writes the agent's key."""
        return self.folder / "agent.key"

    @property
    def buffer_path(self) -> Path:
        """The agent's durable buffer."""
        return self.folder / "buffer.sqlite3"

    def config(self, hub_url: str, **sync: Any) -> Path:
        """Write the agent's settings: a simulated SDM630 polled twice a second, sync to ``hub_url``."""
        values = {"interval_s": 0.2, "backoff_initial_s": 0.2, "backoff_max_s": 1.0, "status_interval_s": 1.0, **sync}
        lines = [
            f'agent_id = "{self.agent_id}"',
            f'site_id = "{self.site_id}"',
            f'data_dir = "{self.folder}"',
            "[[simulators]]",
            'name = "sim"',
            'profile = "sdm630"',
            "[[devices]]",
            f'id = "{self.meter}"',
            'profile = "sdm630"',
            'simulator = "sim"',
            "interval_s = 0.5",
            "[sync]",
            f'hub_url = "{hub_url}"',
            f'key_file = "{self.key_file}"',
            *(f"{key} = {json.dumps(value)}" for key, value in values.items()),
        ]
        path = self.folder / "agent.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


class AgentRun:
    """``luna-agent run -c CONFIG`` with its status API on a free port."""

    def __init__(self, config: Path, folder: Path, name: str = "agent") -> None:
        self.process = ManagedProcess(
            [str(BIN / "luna-agent"), "run", "-c", str(config), "--port", "0"],
            log=folder / f"{name}.log",
            env=_QUIET,
        )
        self.url = self.process.wait_ready()["luna-agent"]

    def status(self) -> dict[str, Any]:
        """``GET /status``."""
        with urllib.request.urlopen(f"{self.url}/status", timeout=10) as response:  # noqa: S310 - loopback
            status: dict[str, Any] = json.load(response)
        return status

    def wait_for(self, what: str, check: Any, timeout: float = 120) -> dict[str, Any]:
        """Poll ``/status`` until ``check(status)`` holds; return that status."""
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.status()
            if check(status):
                return status
            time.sleep(0.1)
        msg = f"agent: not {what} after {timeout}s; last status {status['sync']}\n{self.process.output()[-3000:]}"
        raise AssertionError(msg)

    def stop(self) -> None:
        """Stop it as Ctrl-C does; it must exit 0."""
        assert self.process.interrupt(signal.SIGINT) == 0, self.process.output()[-3000:]

    def kill(self) -> None:
        """``kill -9`` the agent's process group: no shutdown of any kind."""
        self.process.kill()


def buffer_rows(path: Path) -> tuple[set[Row], int]:
    """Every reading in the agent's buffer, and how many it holds unsynced."""
    buffer = ReadingBuffer(path)
    try:
        rows = {(r.seq, r.meter_id, r.metric, r.ts, r.value) for r in buffer.read(0, 2**62)}
        stats = buffer.stats()
        assert stats.dropped_synced == stats.dropped_unsynced == 0
        assert stats.next_seq == len(rows), "the buffer's numbering has a hole"
        return rows, stats.depth
    finally:
        buffer.close()


async def hub_rows(dsn: str, agent_id: str) -> list[Row]:
    """Every reading the hub stored from ``agent_id``, repetitions kept."""
    query = "SELECT seq, meter_id, metric, ts, value FROM smart_meter_readings WHERE agent_id = $1"
    return [(r["seq"], r["meter_id"], r["metric"], r["ts"], r["value"]) for r in await fetch(dsn, query, agent_id)]


async def ledger_gaps(dsn: str, agent_id: str) -> list[tuple[int, int]]:
    """Sequence ranges missing between the hub's ledger entries for ``agent_id``."""
    query = "SELECT first_seq, last_seq FROM ingest_batches WHERE agent_id = $1 ORDER BY first_seq"
    spans = await fetch(dsn, query, agent_id)
    gaps: list[tuple[int, int]] = []
    covered = -1
    for span in spans:
        if span["first_seq"] > covered + 1:
            gaps.append((covered + 1, span["first_seq"] - 1))
        covered = max(covered, span["last_seq"])
    return gaps


def prefill(site: SiteAgent, count: int) -> None:
    """Readings of an earlier outage already in the buffer (a day ago, one metric per second)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    buffer = ReadingBuffer(site.buffer_path)
    try:
        for first in range(0, count, 10_000):
            buffer.append(
                [
                    Sample(
                        meter_id=site.meter,
                        metric="energy_import_kwh",
                        ts=start + timedelta(seconds=i),
                        value=1000.0 + i / 100,
                        unit="kWh",
                    )
                    for i in range(first, min(count, first + 10_000))
                ]
            )
    finally:
        buffer.close()


def sync_once(config: Path) -> subprocess.CompletedProcess[str]:
    """Run ``luna-agent sync --once -c config``."""
    return subprocess.run(
        [str(BIN / "luna-agent"), "sync", "--once", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def assert_exactly_once(dsn: str, site: SiteAgent) -> int:
    """The hub holds each reading of the agent's buffer exactly once, and nothing else; return how many."""
    expected, unsynced = buffer_rows(site.buffer_path)
    assert unsynced == 0
    stored = await hub_rows(dsn, site.agent_id)
    assert len(stored) == len(set(stored)), "a reading stored twice"
    assert len({row[0] for row in stored}) == len(stored), "a sequence number stored twice"
    missing = expected - set(stored)
    extra = set(stored) - expected
    assert not missing, f"{len(missing)} readings never arrived, e.g. {sorted(missing)[:3]}"
    assert not extra, f"{len(extra)} readings the agent never took, e.g. {sorted(extra)[:3]}"
    assert await ledger_gaps(dsn, site.agent_id) == []
    return len(stored)


async def stored_count(dsn: str, agent_id: str) -> int:
    """How many readings the hub stored from ``agent_id``."""
    rows = await fetch(dsn, "SELECT count(*) AS n FROM smart_meter_readings WHERE agent_id = $1", agent_id)
    count: int = rows[0]["n"]
    return count
