"""Completeness: per meter and local day, how many readings were expected, received, and the gaps.

The expected spacing of a meter's readings is given, or else the most common step between its
readings in the range. A local day has 23, 24 or 25 hours, so its expected count follows the
calendar (96 quarter hours on most days, 92 and 100 on DST switch days). A gap (two readings
more than 1.5 steps apart) is listed on the day readings resume.

The agents that deliver the requested meters get a section of their own, from the ingest ledger:
the sequence numbers received, the ranges missing between them, and how many readings arrived
late (backfilled after an outage).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import asyncpg

from luna_hub.agents.services import agent_completeness
from luna_hub.errors import BadRequestError
from luna_hub.metrics import timed_query
from luna_hub.timeparse import zone
from luna_hub.timeseries.buckets import bucket_next
from luna_hub.timeseries.schemas import CompletenessDay, CompletenessReport, MeterCompleteness
from luna_hub.timeseries.services import bucket_range

__all__ = ["completeness"]

_MAX_DAYS: Final = 3700

_STEPS_SQL: Final = """
    WITH r AS (
        SELECT meter_id, ts, ts - lag(ts) OVER (PARTITION BY meter_id ORDER BY ts) AS step
        FROM smart_meter_readings
        WHERE meter_id = ANY($1::text[]) AND metric = $2 AND ts >= $3 AND ts < $4 AND value IS NOT NULL
    )
    SELECT meter_id, mode() WITHIN GROUP (ORDER BY step) AS step FROM r WHERE step IS NOT NULL GROUP BY meter_id
"""

_DAYS_SQL: Final = """
    WITH r AS (
        SELECT meter_id, ts, lag(ts) OVER (PARTITION BY meter_id ORDER BY ts) AS prev
        FROM smart_meter_readings
        WHERE meter_id = ANY($1::text[]) AND metric = $2 AND ts >= $3 AND ts < $4 AND value IS NOT NULL
    )
    SELECT meter_id, date_trunc('day', ts, $5) AS day, count(*) AS received,
           coalesce(array_agg(prev ORDER BY ts) FILTER (WHERE ts - prev > $6::interval * 1.5), '{}') AS gap_from,
           coalesce(array_agg(ts ORDER BY ts) FILTER (WHERE ts - prev > $6::interval * 1.5), '{}') AS gap_to
    FROM r WHERE meter_id = $7 GROUP BY meter_id, day ORDER BY day
"""


@timed_query("completeness")
async def completeness(  # noqa: PLR0913 - one parameter per query dimension
    pool: asyncpg.Pool,
    *,
    meters: list[str],
    metric: str,
    start: datetime,
    end: datetime,
    tz_name: str,
    interval: timedelta | None,
) -> CompletenessReport:
    """Report expected vs received readings per meter and local day over [start, end)."""
    tz = zone(tz_name)
    first, last = bucket_range(start, end, "1d", tz)
    days: list[tuple[datetime, datetime]] = []
    moment = first
    while moment < last:
        if len(days) >= _MAX_DAYS:
            msg = f"at most {_MAX_DAYS} days per completeness report"
            raise BadRequestError(msg)
        following = bucket_next(moment, "1d", tz)
        days.append((moment, following))
        moment = following
    report: list[MeterCompleteness] = []
    async with pool.acquire() as connection:
        steps = dict(await connection.fetch(_STEPS_SQL, meters, metric, first, last))
        for meter in meters:
            step: timedelta | None = interval or steps.get(meter)
            if step is None or step <= timedelta(0):
                report.append(MeterCompleteness(meter_id=meter, metric=metric, interval_seconds=0, days=[]))
                continue
            rows = {
                row["day"]: row
                for row in await connection.fetch(_DAYS_SQL, meters, metric, first, last, tz.key, step, meter)
            }
            report.append(
                MeterCompleteness(
                    meter_id=meter,
                    metric=metric,
                    interval_seconds=int(step.total_seconds()),
                    days=[_day(day_start, day_end, step, rows.get(day_start), tz.key) for day_start, day_end in days],
                )
            )
        agents = await agent_completeness(connection, await _agents_of(connection, meters))
    return CompletenessReport(
        tz=tz.key, start=first.astimezone(tz), end=last.astimezone(tz), meters=report, agents=agents
    )


async def _agents_of(connection: asyncpg.Connection, meters: list[str]) -> list[str]:
    rows = await connection.fetch(
        "SELECT DISTINCT agent_id FROM meters WHERE meter_id = ANY($1::text[]) AND agent_id IS NOT NULL", meters
    )
    return [row["agent_id"] for row in rows]


def _day(start: datetime, end: datetime, step: timedelta, row: asyncpg.Record | None, tz_key: str) -> CompletenessDay:
    expected = int((end - start) / step)
    received = row["received"] if row else 0
    gaps = list(zip(row["gap_from"], row["gap_to"], strict=True)) if row else []
    if row is None:
        gaps = [(start, end)]
    local_day = start.astimezone(zone(tz_key)).date().isoformat()
    return CompletenessDay(
        day=local_day, expected=expected, received=received, missing=max(expected - received, 0), gaps=gaps
    )
