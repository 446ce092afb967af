"""What the dashboard shows: one snapshot of the hub, sent as JSON on ``/admin/snapshot`` and ``/admin/stream``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

__all__ = [
    "AgentRow",
    "AlertRow",
    "AuditRow",
    "ComponentRow",
    "DashboardSnapshot",
    "IngestNumbers",
    "JobRow",
    "RouteLatency",
    "TableVolume",
]

AgentState = Literal["online", "stale", "offline", "never"]


class ComponentRow(msgspec.Struct, frozen=True, kw_only=True):
    """A part the hub depends on, and whether it answers."""

    name: str
    status: Literal["ok", "failing", "not configured"]
    latency_ms: float | None = None
    detail: str | None = None


class AgentRow(msgspec.Struct, frozen=True, kw_only=True):
    """One agent: how recently it called, what it reports, and today's sequence completeness."""

    agent_id: str
    site_id: str | None
    state: AgentState
    last_seen_at: datetime | None
    seconds_since: float | None
    backlog: int | None
    clock_offset_ms: int | None
    version: str | None
    completeness_today: float | None
    """Share of the sequence numbers of today's batches that arrived (None: no batch today)."""


class IngestNumbers(msgspec.Struct, frozen=True, kw_only=True):
    """Readings stored from agents over the last minute (all replicas: from the ingest ledger)."""

    readings_last_minute: int
    batches_last_minute: int
    readings_per_s: float
    lag_p50_s: float | None = None
    lag_p95_s: float | None = None
    """Receive time minus reading time, from this replica's histogram (None before any ingest)."""


class RouteLatency(msgspec.Struct, frozen=True, kw_only=True):
    """One route's requests and latency on this replica."""

    route: str
    method: str
    requests: int
    p95_ms: float | None


class TableVolume(msgspec.Struct, frozen=True, kw_only=True):
    """One table's size on disk (indexes and TOAST included) and its growth."""

    table: str
    bytes: int
    growth_bytes_per_h: float | None


class AlertRow(msgspec.Struct, frozen=True, kw_only=True):
    """A firing alert."""

    fingerprint: str
    alertname: str
    labels: dict[str, str]
    starts_at: datetime
    summary: str = ""


class AuditRow(msgspec.Struct, frozen=True, kw_only=True):
    """An entry of the admin log."""

    at: datetime
    actor: str
    action: str
    target: str


class JobRow(msgspec.Struct, frozen=True, kw_only=True):
    """A document job."""

    job_id: int
    document_id: str
    state: str
    stage: str
    progress: float
    created_at: datetime
    finished_at: datetime | None
    error: str | None


class DashboardSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything on the page at one moment."""

    generated_at: datetime
    components: list[ComponentRow]
    agents: list[AgentRow]
    ingest: IngestNumbers
    ingest_history: list[tuple[datetime, int]]
    """Readings stored per minute over the last hour (minutes without any are left out)."""
    routes: list[RouteLatency]
    tables: list[TableVolume]
    alerts: list[AlertRow]
    audit: list[AuditRow]
    jobs: list[JobRow]
