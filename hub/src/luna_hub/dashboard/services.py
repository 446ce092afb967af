"""Build the dashboard's snapshot from the database and from this replica's own instruments.

Agents, ingest counts, tables, the admin log and document jobs come from the database, so every
replica shows the same. Component readiness, firing alerts, API latency and ingest lag come from
providers the app plugs in (:class:`SnapshotSources`); absent ones show as empty.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

import asyncpg

from luna_hub.dashboard import repository
from luna_hub.dashboard.schemas import (
    AgentRow,
    AgentState,
    AlertRow,
    AuditRow,
    ComponentRow,
    DashboardSnapshot,
    IngestNumbers,
    JobRow,
    RouteLatency,
    TableVolume,
)

__all__ = ["SnapshotSources", "TableHistory", "agent_state", "build_snapshot"]

_LIST_LENGTH: Final = 10
_GROWTH_WINDOW_S: Final = 3600.0
_SAMPLE_EVERY_S: Final = 60.0

Components = Callable[[], Awaitable[list[ComponentRow]]]
Alerts = Callable[[], Awaitable[list[AlertRow]]]
Routes = Callable[[], list[RouteLatency]]
Lag = Callable[[], tuple[float | None, float | None]]


def agent_state(seconds_since: float | None, *, stale_after_s: float, offline_after_s: float) -> AgentState:
    """Online, stale (quiet longer than ``stale_after_s``), offline (longer than ``offline_after_s``), or never seen."""
    if seconds_since is None:
        return "never"
    if seconds_since > offline_after_s:
        return "offline"
    return "stale" if seconds_since > stale_after_s else "online"


@dataclass
class TableHistory:
    """Table sizes sampled now and then in this replica, for their growth per hour."""

    samples: deque[tuple[float, dict[str, int]]] = field(default_factory=lambda: deque(maxlen=120))

    def add(self, sizes: dict[str, int], now: float | None = None) -> None:
        """Keep ``sizes`` when the last sample is older than a minute."""
        moment = time.monotonic() if now is None else now
        if not self.samples or moment - self.samples[-1][0] >= _SAMPLE_EVERY_S:
            self.samples.append((moment, sizes))

    def growth_per_hour(self, table: str, size: int, now: float | None = None) -> float | None:
        """Bytes per hour since the oldest sample within the last hour (None with too short a history)."""
        moment = time.monotonic() if now is None else now
        base = next(((at, sizes) for at, sizes in self.samples if moment - at <= _GROWTH_WINDOW_S), None)
        if base is None or table not in base[1] or moment - base[0] < _SAMPLE_EVERY_S:
            return None
        return (size - base[1][table]) * 3600.0 / (moment - base[0])


async def _database_only() -> list[ComponentRow]:
    return []


async def _no_alerts() -> list[AlertRow]:
    return []


@dataclass
class SnapshotSources:
    """What the app plugs in beyond the database (each replica's own view)."""

    components: Components = _database_only
    alerts: Alerts = _no_alerts
    routes: Routes = list
    lag: Lag = lambda: (None, None)
    stale_after_s: float = 60.0
    offline_after_s: float = 300.0
    tables: TableHistory = field(default_factory=TableHistory)


async def build_snapshot(pool: asyncpg.Pool, sources: SnapshotSources) -> DashboardSnapshot:
    """Return the dashboard's state now."""
    now = datetime.now(UTC)
    started = time.perf_counter()
    async with pool.acquire(timeout=10) as connection:
        database = ComponentRow(name="database", status="ok", latency_ms=_ms(started))
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        agents = [_agent(row, now, sources) for row in await repository.agent_rows(connection, day_start)]
        minutes = await repository.ingest_minutes(connection, now - timedelta(hours=1))
        sizes = await repository.table_sizes(connection)
        audit = await repository.latest_admin_entries(connection, _LIST_LENGTH)
        jobs = await repository.latest_jobs(connection, _LIST_LENGTH)
    sources.tables.add(sizes)
    last_minute = [row for row in minutes if row["minute"] >= now - timedelta(minutes=1)]
    readings = sum(int(row["readings"]) for row in last_minute)
    lag_p50, lag_p95 = sources.lag()
    extra = [row for row in await sources.components() if row.name != "database"]
    return DashboardSnapshot(
        generated_at=now,
        components=[database, *extra],
        agents=agents,
        ingest=IngestNumbers(
            readings_last_minute=readings,
            batches_last_minute=sum(int(row["batches"]) for row in last_minute),
            readings_per_s=readings / 60.0,
            lag_p50_s=lag_p50,
            lag_p95_s=lag_p95,
        ),
        ingest_history=[(row["minute"], int(row["readings"])) for row in minutes],
        routes=sources.routes(),
        tables=[
            TableVolume(table=name, bytes=size, growth_bytes_per_h=sources.tables.growth_per_hour(name, size))
            for name, size in sizes.items()
        ],
        alerts=await sources.alerts(),
        audit=[AuditRow(at=r["at"], actor=r["actor"], action=r["action"], target=r["target"]) for r in audit],
        jobs=[
            JobRow(
                job_id=r["job_id"],
                document_id=r["document_id"],
                state=r["state"],
                stage=r["stage"],
                progress=float(r["progress"]),
                created_at=r["created_at"],
                finished_at=r["finished_at"],
                error=r["error"],
            )
            for r in jobs
        ],
    )


def _agent(row: asyncpg.Record, now: datetime, sources: SnapshotSources) -> AgentRow:
    last_seen: datetime | None = row["last_seen_at"]
    seconds = None if last_seen is None else max(0.0, (now - last_seen).total_seconds())
    span = row["span"]
    return AgentRow(
        agent_id=row["agent_id"],
        site_id=row["site_id"],
        state=agent_state(seconds, stale_after_s=sources.stale_after_s, offline_after_s=sources.offline_after_s),
        last_seen_at=last_seen,
        seconds_since=seconds,
        backlog=row["backlog"],
        clock_offset_ms=row["clock_offset_ms"],
        version=row["version"],
        completeness_today=None if not span else min(1.0, int(row["received"]) / int(span)),
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
