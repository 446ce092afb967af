"""What ``GET /data/query`` and ``GET /data/completeness`` answer."""

from __future__ import annotations

from datetime import datetime

import msgspec

from luna_hub.agents.schemas import AgentCompleteness

__all__ = ["CompletenessDay", "CompletenessReport", "MeterCompleteness", "Point", "QueryResult", "Series"]


class Point(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One bucket (or one raw reading) of a series; ``ts`` is the bucket start in the requested zone.

    ``quality`` and ``reasons`` exist only on raw readings; aggregated points leave them out.
    """

    ts: datetime
    value: float | None
    count: int
    quality: str | None = None
    reasons: list[str] | None = None


class Series(msgspec.Struct, frozen=True, kw_only=True):
    """One meter's metric, or one market's prices."""

    id: str
    metric: str
    unit: str
    points: list[Point]


class QueryResult(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to one query; ``source`` says which table served it (``raw`` or a rollup)."""

    bucket: str
    aggregate: str
    tz: str
    start: datetime
    end: datetime
    source: str
    series: list[Series]
    next_cursor: str | None = None


class CompletenessDay(msgspec.Struct, frozen=True, kw_only=True):
    """Expected and received readings of one local day, and the gaps inside it."""

    day: str
    expected: int
    received: int
    missing: int
    gaps: list[tuple[datetime, datetime]]


class MeterCompleteness(msgspec.Struct, frozen=True, kw_only=True):
    """One meter's metric, day by day; ``interval_seconds`` is the expected spacing of readings."""

    meter_id: str
    metric: str
    interval_seconds: int
    days: list[CompletenessDay]


class CompletenessReport(msgspec.Struct, frozen=True, kw_only=True):
    """Completeness of the requested meters over the requested range."""

    tz: str
    start: datetime
    end: datetime
    meters: list[MeterCompleteness]
    agents: list[AgentCompleteness] = msgspec.field(default_factory=list)
    """The agents that deliver the requested meters: sequence numbers received, missing, delivered late."""
